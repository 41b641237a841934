//! Who is calling. Every `/api/v1` route except health, discovery and login
//! takes a [`Principal`]; a request without valid credentials is answered
//! 401 before the handler runs.
//!
//! Two credentials are accepted as `Authorization: Bearer …`: an RS256
//! access token from `/api/v1/auth/login` (checked against its server-side
//! session on every request, so a revoked session's tokens stop working on
//! the next request; the session may come from the store's session cache,
//! which a change committed by this server empties at once and one made by
//! another within a second: `docs/store.md`), a personal API token
//! (`apmo_pat_…`) or a service account's key (`apmo_sak_…`), or an RS256
//! JWT access token from a configured external OIDC issuer
//! (`docs/federation.md`).
//!
//! Without an `Authorization` header, a browser session's cookie
//! (`__Host-autopmo_session`, from a login with `"session": "cookie"`) is
//! accepted: its session is found by the hash of its secret and checked by
//! the same rules as an access token's. A cookie-authenticated request with
//! an unsafe method (POST, PUT, PATCH, DELETE) must also carry
//! `X-Requested-With: autopmo` and, when it has an `Origin`, the public
//! URL's origin; otherwise it is refused (403 `csrf_rejected`) before the
//! handler runs.

use crate::problem::ApiError;
use crate::state::AppState;
use autopmo_domain::{Role, User, UserId, Username};
use autopmo_store::Freshness;
use autopmo_store::recent::SessionUser;
use autopmo_store::sessions::{Session, SessionKind};
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, header};

/// The name of the browser session cookie. The `__Host-` prefix makes
/// browsers accept it only with `Secure`, `Path=/` and no `Domain`, so that
/// neither a sibling subdomain nor a plain-HTTP page can set or shadow it.
pub const SESSION_COOKIE: &str = "__Host-autopmo_session";

/// The header (and its value) a cookie-authenticated unsafe request must
/// carry: a cross-site form cannot send it, and a cross-site script cannot
/// either without a CORS preflight, which is never granted.
pub const CSRF_HEADER: &str = "x-requested-with";
/// See [`CSRF_HEADER`].
pub const CSRF_VALUE: &str = "autopmo";

/// An authenticated caller.
#[derive(Debug, Clone)]
pub struct Principal {
    /// The user.
    pub user_id: UserId,
    /// Their login name.
    pub username: Username,
    /// Their roles.
    pub roles: Vec<Role>,
    /// The API token used, if that was the credential.
    pub credential_id: Option<uuid::Uuid>,
    /// The session, for an access token.
    pub session_id: Option<String>,
    /// How the user authenticated in this session (`pwd`, `otp`, …).
    pub amr: Vec<String>,
    /// When the session's user last proved who they are (login or step-up).
    pub auth_time: Option<time::OffsetDateTime>,
    /// The credential was the browser session cookie.
    pub by_cookie: bool,
}

impl FromRequestParts<AppState> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        // Already authenticated by the authorization layer for this request.
        if let Some(principal) = parts.extensions.get::<Self>() {
            return Ok(principal.clone());
        }
        let Some(value) = parts.headers.get(header::AUTHORIZATION) else {
            let Some(secret) = session_cookie(&parts.headers) else {
                return Err(ApiError::Unauthenticated);
            };
            // CSRF first: a forged request is refused without touching the session.
            check_csrf(parts, state)?;
            let principal = from_cookie(state, secret).await?;
            if let Some(ctx) = parts.extensions.get::<crate::audit::AuditCtx>() {
                ctx.authenticated(state, principal.user_id, principal.username.as_str()).await?;
                ctx.session(principal.session_id.clone());
            }
            return Ok(principal);
        };
        let value = value.to_str().map_err(|_| ApiError::Unauthenticated)?;
        let Some((scheme, token)) = value.split_once(' ') else {
            return Err(ApiError::Unauthenticated);
        };
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err(ApiError::Unauthenticated);
        }
        let token = token.trim();
        let principal = if autopmo_store::tokens::is_api_key(token) {
            let mut conn = state.store.read().await?;
            let found = autopmo_store::tokens::authenticate(&mut conn, token, state.now()).await?;
            drop(conn);
            let (credential_id, user) = found.ok_or(ApiError::Unauthenticated)?;
            Self {
                user_id: user.id,
                username: user.username,
                roles: user.roles,
                credential_id: Some(credential_id),
                session_id: None,
                amr: Vec::new(),
                auth_time: None,
                by_cookie: false,
            }
        } else if let Some(federation) = &state.federation
            && autopmo_auth::federation::unverified_issuer(token).is_some_and(|iss| federation.knows_issuer(&iss))
        {
            from_federated_token(parts, federation, token).await?
        } else {
            from_access_token(state, token).await?
        };
        if let Some(ctx) = parts.extensions.get::<crate::audit::AuditCtx>() {
            ctx.authenticated(state, principal.user_id, principal.username.as_str()).await?;
            ctx.session(principal.session_id.clone());
        }
        Ok(principal)
    }
}

/// A bearer token from a configured external OIDC issuer (federation):
/// checked through the issuer's JWKS; its user found, linked or
/// provisioned; roles as mapped from the token. Every refusal is the same 401.
async fn from_federated_token(
    parts: &Parts,
    federation: &autopmo_auth::federation::Federation,
    token: &str,
) -> Result<Principal, ApiError> {
    use autopmo_auth::federation::FederationError;
    let actor = parts.extensions.get::<crate::audit::AuditCtx>().map(crate::audit::AuditCtx::actor).unwrap_or_default();
    match federation.verify_bearer(token, &actor).await {
        Ok(caller) => Ok(Principal {
            user_id: caller.user.id,
            username: caller.user.username,
            roles: caller.roles,
            credential_id: None,
            session_id: None,
            amr: vec!["fed".to_owned()],
            auth_time: None,
            by_cookie: false,
        }),
        Err(FederationError::Unavailable(e)) => {
            tracing::warn!(error = %e, "external bearer token not checked: identity provider unavailable");
            Err(ApiError::Unavailable("the identity provider is unavailable".to_owned()))
        }
        Err(e) => {
            tracing::debug!(reason = %e, "external bearer token refused");
            Err(ApiError::Unauthenticated)
        }
    }
}

/// Ends a session found idle or past its absolute end, recording
/// `auth.session_expired` (once: the revocation is conditional).
pub(crate) async fn expire(state: &AppState, session_id: &str, user_id: &str, now: time::OffsetDateTime) {
    let result: Result<(), autopmo_store::StoreError> = async {
        let mut uow = state.store.begin().await?;
        if autopmo_store::sessions::revoke(uow.conn(), session_id, "expired", now).await? {
            let mut record = autopmo_audit::AuditRecord::new(
                "auth.session_expired",
                autopmo_audit::Category::Authentication,
                "expire",
                autopmo_audit::Outcome::Success,
                now,
            )
            .with_resource("session", Some(session_id.to_owned()), None);
            record.actor.user_id = Some(user_id.to_owned());
            record.session_id = Some(session_id.to_owned());
            uow.append_audit(&mut record).await?;
        }
        uow.commit().await
    }
    .await;
    if let Err(e) = result {
        tracing::warn!(error = %e, "could not record a session expiry");
    }
}

/// The value of the session cookie, if the request has one (the first, if
/// several are sent).
pub(crate) fn session_cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value.trim())
}

/// The origin (`scheme://host[:port]`) of a URL, lowercased.
fn origin_of(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    format!("{scheme}://{authority}").to_ascii_lowercase()
}

/// The CSRF rule for a cookie-authenticated request: a safe method passes;
/// an unsafe one needs `X-Requested-With: autopmo` and, when an `Origin` is
/// sent, the public URL's origin.
fn check_csrf(parts: &Parts, state: &AppState) -> Result<(), ApiError> {
    if matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE) {
        return Ok(());
    }
    let headers = &parts.headers;
    let marked = headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok()).is_some_and(|v| v.trim() == CSRF_VALUE);
    if !marked {
        return Err(ApiError::CsrfRejected(format!(
            "a request authenticated by the session cookie that changes something must carry the header \
             X-Requested-With: {CSRF_VALUE}"
        )));
    }
    if let Some(origin) = headers.get(header::ORIGIN) {
        let expected = origin_of(state.tokens.policy().issuer());
        let same = origin.to_str().is_ok_and(|o| o.trim().to_ascii_lowercase() == expected);
        if !same {
            return Err(ApiError::CsrfRejected(format!(
                "a request authenticated by the session cookie must come from {expected}"
            )));
        }
    }
    Ok(())
}

/// A browser session's cookie: the session found by the hash of its secret,
/// then the same checks as for an access token.
async fn from_cookie(state: &AppState, secret: &str) -> Result<Principal, ApiError> {
    if !secret.starts_with(autopmo_auth::login::SESSION_PREFIX) || secret.len() > 256 {
        return Err(ApiError::Unauthenticated);
    }
    let hash = autopmo_auth::login::secret_hash(secret);
    let hash = hash.as_str();
    let read = |freshness| async move {
        let found = state.store.session_with_user_by_secret(hash, freshness).await?;
        Ok(found.filter(|(session, _)| session.kind == SessionKind::Browser))
    };
    let mut principal = checked_session(state, None, read).await?;
    principal.by_cookie = true;
    Ok(principal)
}

/// An access token: its signature and claims, then its session, which must
/// be the token subject's.
async fn from_access_token(state: &AppState, token: &str) -> Result<Principal, ApiError> {
    let claims = state.tokens.verify(token).await.ok_or(ApiError::Unauthenticated)?;
    let sid = claims.sid.as_str();
    let read = |freshness| async move { Ok(state.store.session_with_user(sid, freshness).await?) };
    checked_session(state, Some(&claims.sub), read).await
}

/// The session a credential names (read by `read`), checked by
/// [`verdict`]. A copy from the session cache is used only when it is
/// [`Verdict::Live`]; anything else is decided on a fresh read, so that a
/// session is never ended, slid or refused on a stale copy. `owner` is the
/// user the credential names (none: the session's own).
async fn checked_session<F, Fut>(state: &AppState, owner: Option<&str>, read: F) -> Result<Principal, ApiError>
where
    F: Fn(Freshness) -> Fut,
    Fut: std::future::Future<Output = Result<Option<SessionUser>, ApiError>>,
{
    if let Some((session, Some(user))) = read(Freshness::Recent).await?
        && verdict(state, &session, Some(&user), owner) == Verdict::Live
    {
        return Ok(principal(session, user));
    }
    let (session, user) = read(Freshness::Current).await?.ok_or(ApiError::Unauthenticated)?;
    match verdict(state, &session, user.as_ref(), owner) {
        Verdict::Refused => return Err(ApiError::Unauthenticated),
        Verdict::Expired => {
            expire(state, &session.id, &session.user_id, state.now()).await;
            return Err(ApiError::Unauthenticated);
        }
        Verdict::Slide => {
            let mut uow = state.store.begin().await?;
            // A copy of the session read before the slide has an older
            // `last_seen_at`, for which `verdict` says `Slide`: it is read again.
            uow.only_slides_sessions();
            autopmo_store::sessions::touch(uow.conn(), &session.id, state.now()).await?;
            uow.commit().await?;
        }
        Verdict::Live => {}
    }
    let user = user.ok_or(ApiError::Unauthenticated)?;
    Ok(principal(session, user))
}

/// What the checks every session credential passes say about a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    /// Good, nothing to do.
    Live,
    /// Good, and due its once-a-minute slide of the idle timeout.
    Slide,
    /// Idle for longer than the idle timeout or past its absolute end, not
    /// yet revoked: end it (audited) and refuse.
    Expired,
    /// Refuse, and leave the session alone.
    Refused,
}

/// The checks every session credential (access token or cookie) passes: the
/// session belongs to `owner` (if not, it is refused and left alone: ending
/// it would let such a credential log its owner out), is not revoked, not
/// idle for longer than the idle timeout, not past its absolute end; its
/// user (read with it) still exists and is active, with roles as they are
/// now.
fn verdict(state: &AppState, session: &Session, user: Option<&User>, owner: Option<&str>) -> Verdict {
    if owner.is_some_and(|owner| owner != session.user_id) || session.revoked.is_some() {
        return Verdict::Refused;
    }
    let now = state.now();
    let idle = now - session.last_seen_at;
    if now >= session.absolute_expires_at || idle >= state.logins.policy().session_idle {
        return Verdict::Expired;
    }
    if user.is_none_or(|u| u.status != autopmo_domain::UserStatus::Active) {
        return Verdict::Refused;
    }
    if idle > time::Duration::minutes(1) { Verdict::Slide } else { Verdict::Live }
}

fn principal(session: Session, user: User) -> Principal {
    Principal {
        user_id: user.id,
        username: user.username,
        roles: user.roles,
        credential_id: None,
        session_id: Some(session.id),
        amr: session.amr,
        auth_time: Some(session.auth_time),
        by_cookie: false,
    }
}
