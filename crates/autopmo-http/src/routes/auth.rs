//! Login, token refresh, logout, the caller's sessions, and the discovery
//! documents (guide §2.3).

use crate::audit::Audit;
use crate::authz::rules::{RouteRule, Rule, rule};
use crate::extract::json::ValidJson;
use crate::extract::path::Ids;
use crate::extract::principal::{Principal, SESSION_COOKIE};
use crate::problem::ApiError;
use crate::state::AppState;
use autopmo_audit::{AuditRecord, Category, Outcome};
use autopmo_auth::AuthError;
use autopmo_auth::login::{Attempt, Grant, Refusal, secret_hash};
use autopmo_store::sessions::{self, RefreshToken, SessionKind};
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(login))
        .routes(routes!(refresh))
        .routes(routes!(logout))
        .routes(routes!(my_sessions))
        .routes(routes!(end_my_session))
        .routes(routes!(jwks))
        .routes(routes!(openid_configuration))
}

/// What each route needs (see `crate::authz`).
pub(crate) const RULES: &[RouteRule] = &[
    rule("POST", "/api/v1/auth/login", Rule::Public),
    rule("POST", "/api/v1/auth/refresh", Rule::Public),
    rule("POST", "/api/v1/auth/logout", Rule::SelfService),
    rule("GET", "/api/v1/me/sessions", Rule::SelfService),
    rule("DELETE", "/api/v1/me/sessions/{session_id}", Rule::SelfService),
    rule("GET", "/.well-known/jwks.json", Rule::Public),
    rule("GET", "/.well-known/openid-configuration", Rule::Public),
];

/// Credentials.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// Login name or email address.
    username: String,
    /// Password.
    #[schema(value_type = String)]
    password: SecretString,
    /// What the login hands out: `tokens` (the default) or `cookie`.
    #[serde(default)]
    session: SessionMode,
}

/// How a login is held: by tokens (API clients) or by a cookie (browsers).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum SessionMode {
    /// Access and refresh tokens in the body.
    #[default]
    Tokens,
    /// A browser session: 204 with `Set-Cookie: __Host-autopmo_session=…`.
    Cookie,
}

impl std::fmt::Debug for LoginRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginRequest")
            .field("username", &self.username)
            .field("session", &self.session)
            .finish_non_exhaustive()
    }
}

/// A refresh token to exchange.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    /// The refresh token from the last login or refresh.
    #[schema(value_type = String)]
    refresh_token: SecretString,
}

impl std::fmt::Debug for RefreshRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RefreshRequest(<redacted>)")
    }
}

/// Tokens for an API client.
#[derive(Serialize, ToSchema)]
pub struct TokenResponse {
    /// RS256 access token (15 minutes).
    access_token: String,
    /// Single-use refresh token (rotated on every refresh).
    refresh_token: String,
    /// Always `Bearer`.
    token_type: &'static str,
    /// Seconds the access token lives.
    expires_in: i64,
}

impl std::fmt::Debug for TokenResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenResponse(<redacted>)")
    }
}

/// One of the caller's sessions.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionView {
    /// Session id.
    id: String,
    /// Started (RFC 3339).
    created_at: String,
    /// Last used (RFC 3339).
    last_seen_at: String,
    /// Ends at the latest (RFC 3339).
    expires_at: String,
    /// How the user authenticated (`pwd`, …).
    amr: Vec<String>,
    /// `browser` (by cookie) or `api` (by tokens).
    kind: &'static str,
    /// Whether this is the session of the request.
    current: bool,
}

pub(crate) fn auth_error(e: AuthError) -> ApiError {
    match e {
        AuthError::Busy => ApiError::Overloaded("the password hashing pool is saturated"),
        AuthError::Store(e) => e.into(),
        other => ApiError::Unavailable(other.to_string()),
    }
}

pub(crate) fn no_store(mut response: Response) -> Response {
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response.headers_mut().insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

/// The session cookie (`__Host-`: the browser accepts it only with `Secure`,
/// `Path=/` and no `Domain`). No `Max-Age`: it lasts as long as the
/// browser runs, and the server ends the session anyway (idle, absolute).
pub(crate) fn session_cookie(secret: &str) -> Result<HeaderValue, ApiError> {
    HeaderValue::from_str(&format!("{SESSION_COOKIE}={secret}; Path=/; Secure; HttpOnly; SameSite=Strict"))
        .map_err(|e| ApiError::Internal(Box::new(e)))
}

/// Tells the browser to drop the session cookie.
fn cleared_cookie() -> HeaderValue {
    HeaderValue::from_static("__Host-autopmo_session=; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=0")
}

pub(crate) async fn tokens_for(state: &AppState, grant: &Grant) -> Result<Response, ApiError> {
    tokens_response(state, &grant.user, &grant.session, &grant.refresh_token).await
}

async fn tokens_response(
    state: &AppState,
    user: &autopmo_domain::User,
    session: &sessions::Session,
    refresh_token: &SecretString,
) -> Result<Response, ApiError> {
    let roles: Vec<String> = user.roles.iter().map(|r| r.as_str().to_owned()).collect();
    let (access, ttl) = state.tokens.issue(session, &roles).await.map_err(auth_error)?;
    let body = TokenResponse {
        access_token: access,
        refresh_token: refresh_token.expose_secret().to_owned(),
        token_type: "Bearer",
        expires_in: ttl.whole_seconds(),
    };
    Ok(no_store(Json(body).into_response()))
}

/// A login whose password was right and that waits for its second factor
/// (guide §2.2): answer at `POST /api/v1/auth/mfa/verify`.
#[derive(Serialize, ToSchema)]
pub struct MfaPending {
    /// Always `true`.
    mfa_required: bool,
    /// Names this login; good for `expires_in` seconds and five wrong answers.
    mfa_token: String,
    /// What can answer: `totp`, `webauthn`, `sms`, `recovery_code`.
    methods: Vec<String>,
    /// `CONFIGURE_TOTP`: the account must add an authenticator first
    /// (`POST /api/v1/auth/mfa/enroll-totp`), and nothing else is possible.
    required_action: Option<&'static str>,
    /// Seconds.
    expires_in: i64,
}

impl std::fmt::Debug for MfaPending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MfaPending").field("methods", &self.methods).finish_non_exhaustive()
    }
}

/// Logs in with a password. Every refusal (unknown user, wrong password,
/// locked or disabled account) gets the same 401. With `"session":
/// "cookie"`, a browser session: 204 and the `__Host-autopmo_session` cookie.
/// An account with a second factor (or one that must have one) gets no
/// session yet: 200 with `mfa_required`, to complete at `/auth/mfa/verify`.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = LoginRequest,
    responses((status = 200, body = TokenResponse, description = "Tokens — or, with `mfa_required`, an MfaPending"),
        (status = 204, description = "Browser session opened: Set-Cookie __Host-autopmo_session"),
        (status = 401, description = "Invalid credentials"),
        (status = 403, description = "The password must be changed first"),
        (status = 429, description = "Too many failures from this address"), (status = 503, description = "Busy")))]
async fn login(
    State(state): State<AppState>,
    audit: Audit,
    ValidJson(body): ValidJson<LoginRequest>,
) -> Result<Response, ApiError> {
    let attempt =
        Attempt { login: body.username, password: body.password, address: audit.0.address(), actor: audit.0.actor() };
    let kind = match body.session {
        SessionMode::Tokens => SessionKind::Api,
        SessionMode::Cookie => SessionKind::Browser,
    };
    use autopmo_auth::login::LoginResult;
    let grant = match state.logins.authenticate(attempt, kind).await.map_err(auth_error)? {
        LoginResult::Granted(grant) => Ok(grant),
        LoginResult::Refused(refusal) => Err(refusal),
        LoginResult::SecondFactor(pending) => {
            let body = MfaPending {
                mfa_required: true,
                mfa_token: pending.mfa_token.expose_secret().to_owned(),
                methods: pending.methods,
                required_action: pending.required_action,
                expires_in: (pending.expires_at - state.now()).whole_seconds(),
            };
            return Ok(no_store(Json(body).into_response()));
        }
    };
    match grant {
        Ok(grant) if grant.must_change_password => {
            // Keycloak's UPDATE_PASSWORD required action: no tokens until it is done.
            let mut uow = state.store.begin().await?;
            sessions::revoke(uow.conn(), &grant.session.id, "password_change_required", state.now()).await?;
            uow.commit().await?;
            Err(ApiError::Forbidden(
                "this account must set a new password before it can be used: POST /api/v1/auth/password with \
                 username, current_password and new_password (or, on the server, autopmo user reset-password --password-stdin)"
                    .to_owned(),
            ))
        }
        Ok(grant) => {
            audit.0.session(Some(grant.session.id.clone()));
            if kind == SessionKind::Browser {
                let mut response = StatusCode::NO_CONTENT.into_response();
                response
                    .headers_mut()
                    .insert(header::SET_COOKIE, session_cookie(grant.session_secret.expose_secret())?);
                return Ok(no_store(response));
            }
            tokens_for(&state, &grant).await
        }
        Err(Refusal::InvalidCredentials) => Err(ApiError::InvalidCredentials),
        Err(Refusal::AddressBlocked { until }) => {
            Err(ApiError::TooManyRequests { retry_after: (until - state.now()).whole_seconds().max(1) })
        }
    }
}

/// Exchanges a refresh token for new tokens; the old one is spent. A spent
/// token presented again ends every session of its family (RFC 9700 §4.14.2).
#[utoipa::path(post, path = "/api/v1/auth/refresh", tag = "auth", request_body = RefreshRequest,
    responses((status = 200, body = TokenResponse), (status = 401, description = "Invalid, expired or reused refresh token")))]
async fn refresh(
    State(state): State<AppState>,
    audit: Audit,
    ValidJson(body): ValidJson<RefreshRequest>,
) -> Result<Response, ApiError> {
    let presented = body.refresh_token.expose_secret();
    if !presented.starts_with(autopmo_auth::login::REFRESH_PREFIX) || presented.len() > 256 {
        return Err(ApiError::Unauthenticated);
    }
    let hash = secret_hash(presented);
    let now = state.now();
    let mut uow = state.store.begin().await?;
    let Some(token) = sessions::refresh_by_hash(uow.conn(), &hash).await? else {
        return Err(ApiError::Unauthenticated);
    };
    let event = |event_type: &str, outcome: Outcome| {
        let mut record = AuditRecord::new(event_type, Category::Authentication, "refresh", outcome, now);
        record.actor = audit.0.actor();
        record.session_id = Some(token.session_id.clone());
        record.request_id = Some(audit.0.request_id().to_owned());
        record
    };
    if token.used_at.is_some() {
        let ended = sessions::revoke_family(uow.conn(), &token.family_id, now).await?;
        let mut record = event("auth.refresh_token_reused", Outcome::Denied)
            .with_metadata(&serde_json::json!({"family_ended_sessions": ended}));
        uow.append_audit(&mut record).await?;
        let mut alert = autopmo_trail::monitor::alert(
            "refresh_token_reuse",
            "high",
            "a spent refresh token was presented again: its session family was ended",
            now,
            audit.0.actor(),
        );
        uow.append_audit(&mut alert).await?;
        uow.commit().await?;
        return Err(ApiError::Unauthenticated);
    }
    let session = sessions::get(uow.conn(), &token.session_id).await?.ok_or(ApiError::Unauthenticated)?;
    let policy = state.logins.policy();
    let live = session.kind == SessionKind::Api
        && session.revoked.is_none()
        && now < token.expires_at
        && now < session.absolute_expires_at
        && now - session.last_seen_at < policy.session_idle;
    if !live {
        drop(uow);
        if session.revoked.is_none() && session.kind == SessionKind::Api {
            crate::extract::principal::expire(&state, &session.id, &session.user_id, now).await;
        }
        return Err(ApiError::Unauthenticated);
    }
    // Of two concurrent refreshes with one token, exactly one spends it.
    if !sessions::spend_refresh(uow.conn(), &hash, now).await? {
        return Err(ApiError::Unauthenticated);
    }
    let user_id: autopmo_domain::UserId = session.user_id.parse().map_err(|_| ApiError::Unauthenticated)?;
    let user = autopmo_store::users::get(uow.conn(), user_id).await.map_err(|_| ApiError::Unauthenticated)?;
    if user.status != autopmo_domain::UserStatus::Active {
        return Err(ApiError::Unauthenticated);
    }
    let secret = format!(
        "{}{}",
        autopmo_auth::login::REFRESH_PREFIX,
        autopmo_crypto::base64url(
            &autopmo_crypto::random_bytes::<32>().map_err(|e| ApiError::Unavailable(e.to_string()))?
        )
    );
    let next = RefreshToken {
        token_hash: secret_hash(&secret),
        session_id: session.id.clone(),
        family_id: token.family_id.clone(),
        issued_at: now,
        expires_at: (now + policy.refresh_ttl).min(session.absolute_expires_at),
        used_at: None,
    };
    sessions::insert_refresh(uow.conn(), &next).await?;
    sessions::touch(uow.conn(), &session.id, now).await?;
    let mut record =
        event("auth.token_refreshed", Outcome::Success).with_resource("user", Some(user.id.to_string()), None);
    record.actor.user_id = Some(user.id.to_string());
    uow.append_audit(&mut record).await?;
    uow.commit().await?;
    audit.0.session(Some(session.id.clone()));
    tokens_response(&state, &user, &session, &SecretString::from(secret)).await
}

async fn end_session(
    state: &AppState,
    audit: &Audit,
    principal: &Principal,
    id: &str,
    reason: &str,
) -> Result<bool, ApiError> {
    let now = state.now();
    let mut uow = state.store.begin().await?;
    let mine = sessions::get(uow.conn(), id).await?.is_some_and(|s| s.user_id == principal.user_id.to_string());
    if !mine {
        return Ok(false);
    }
    sessions::revoke(uow.conn(), id, reason, now).await?;
    let mut record = AuditRecord::new("auth.logout", Category::Authentication, "logout", Outcome::Success, now)
        .with_resource("session", Some(id.to_owned()), None)
        .with_metadata(&serde_json::json!({"reason": reason}));
    record.actor = audit.0.actor();
    record.session_id = Some(id.to_owned());
    audit.commit(state, uow, StatusCode::NO_CONTENT, vec![record]).await?;
    Ok(true)
}

/// Ends the session of the access token (or the session cookie) used; with
/// the cookie, also clears it (`Max-Age=0`).
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth", security(("bearer" = [])),
    responses((status = 204, description = "Logged out"), (status = 400, description = "An API token has no session to log out of"),
        (status = 401, description = "Unauthenticated")))]
async fn logout(State(state): State<AppState>, principal: Principal, audit: Audit) -> Result<Response, ApiError> {
    let Some(id) = principal.session_id.clone() else {
        return Err(ApiError::BadRequest {
            kind: "no_session",
            detail: "an API token has no session to log out of; revoke the token instead".to_owned(),
        });
    };
    end_session(&state, &audit, &principal, &id, "logout").await?;
    let mut response = StatusCode::NO_CONTENT.into_response();
    if principal.by_cookie {
        response.headers_mut().insert(header::SET_COOKIE, cleared_cookie());
    }
    Ok(response)
}

/// Lists the caller's active sessions, browser (cookie) and API (token) alike.
#[utoipa::path(get, path = "/api/v1/me/sessions", tag = "auth", security(("bearer" = [])),
    responses((status = 200, body = Vec<SessionView>), (status = 401, description = "Unauthenticated")))]
async fn my_sessions(State(state): State<AppState>, principal: Principal) -> Result<Json<Vec<SessionView>>, ApiError> {
    let fmt = |t: time::OffsetDateTime| t.format(&time::format_description::well_known::Rfc3339).unwrap_or_default();
    let mut conn = state.store.read().await?;
    let list = sessions::active_for_user(&mut conn, &principal.user_id.to_string()).await?;
    let now = state.now();
    let idle = state.logins.policy().session_idle;
    Ok(Json(
        list.into_iter()
            .filter(|s| now < s.absolute_expires_at && now - s.last_seen_at < idle)
            .map(|s| SessionView {
                current: principal.session_id.as_deref() == Some(s.id.as_str()),
                id: s.id,
                created_at: fmt(s.created_at),
                last_seen_at: fmt(s.last_seen_at),
                expires_at: fmt(s.absolute_expires_at),
                kind: match s.kind {
                    SessionKind::Browser => "browser",
                    SessionKind::Api => "api",
                },
                amr: s.amr,
            })
            .collect(),
    ))
}

/// Ends one of the caller's sessions.
#[utoipa::path(delete, path = "/api/v1/me/sessions/{session_id}", tag = "auth", params(("session_id" = String, Path)),
    security(("bearer" = [])),
    responses((status = 204, description = "Ended"), (status = 401, description = "Unauthenticated"), (status = 404, description = "Not one of your sessions")))]
async fn end_my_session(
    State(state): State<AppState>,
    principal: Principal,
    audit: Audit,
    ids: Ids,
) -> Result<StatusCode, ApiError> {
    let id: String = ids.get("session_id", "session")?;
    if end_session(&state, &audit, &principal, &id, "ended_by_user").await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound("session"))
    }
}

/// The public keys that verify access tokens.
#[utoipa::path(get, path = "/.well-known/jwks.json", tag = "auth", responses((status = 200, description = "JWK Set")))]
async fn jwks(State(state): State<AppState>) -> Response {
    let mut headers = HeaderMap::new();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=300"));
    (headers, Json(state.tokens.jwks().await)).into_response()
}

/// The discovery document.
#[utoipa::path(get, path = "/.well-known/openid-configuration", tag = "auth", responses((status = 200, description = "Discovery document")))]
async fn openid_configuration(State(state): State<AppState>) -> Json<serde_json::Value> {
    Json(autopmo_identity::tokens::discovery(state.tokens.policy().issuer()))
}
