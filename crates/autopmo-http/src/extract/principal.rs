//! Who is calling. Every `/api/v1` route except health, discovery and login
//! takes a [`Principal`]; a request without valid credentials is answered
//! 401 before the handler runs.
//!
//! Two credentials are accepted as `Authorization: Bearer …`: an RS256
//! access token from `/api/v1/auth/login` (checked against its server-side
//! session on every request, so a revoked session's tokens stop working at
//! once), a personal API token (`apmo_pat_…`), or an RS256 JWT access
//! token from a configured external OIDC issuer (`docs/federation.md`).

use crate::problem::ApiError;
use crate::state::AppState;
use autopmo_domain::{Role, UserId, Username};
use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;

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
    /// How the user authenticated in this session (`pwd`, …) and when.
    pub amr: Vec<String>,
}

impl FromRequestParts<AppState> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let Some(value) = parts.headers.get(header::AUTHORIZATION) else {
            return Err(ApiError::Unauthenticated);
        };
        let value = value.to_str().map_err(|_| ApiError::Unauthenticated)?;
        let Some((scheme, token)) = value.split_once(' ') else {
            return Err(ApiError::Unauthenticated);
        };
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err(ApiError::Unauthenticated);
        }
        let token = token.trim();
        let principal = if token.starts_with(autopmo_store::tokens::PREFIX) {
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

/// An access token: its signature and claims, then its session (not
/// revoked, not idle for longer than the idle timeout, not past its absolute
/// end) and its user (still active; roles as they are now).
async fn from_access_token(state: &AppState, token: &str) -> Result<Principal, ApiError> {
    let claims = state.tokens.verify(token).await.ok_or(ApiError::Unauthenticated)?;
    let now = state.now();
    let mut conn = state.store.read().await?;
    let session = autopmo_store::sessions::get(&mut conn, &claims.sid).await?.ok_or(ApiError::Unauthenticated)?;
    let policy = state.logins.policy();
    let live = session.revoked.is_none()
        && session.user_id == claims.sub
        && now < session.absolute_expires_at
        && now - session.last_seen_at < policy.session_idle;
    if !live {
        if session.revoked.is_none() {
            expire(state, &session.id, &session.user_id, now).await;
        }
        return Err(ApiError::Unauthenticated);
    }
    let user_id: UserId = claims.sub.parse().map_err(|_| ApiError::Unauthenticated)?;
    let user = autopmo_store::users::get(&mut conn, user_id).await.map_err(|_| ApiError::Unauthenticated)?;
    drop(conn);
    if user.status != autopmo_domain::UserStatus::Active {
        return Err(ApiError::Unauthenticated);
    }
    // Slide the idle timeout, at most once a minute per session.
    if now - session.last_seen_at > time::Duration::minutes(1) {
        let mut uow = state.store.begin().await?;
        autopmo_store::sessions::touch(uow.conn(), &session.id, now).await?;
        uow.commit().await?;
    }
    Ok(Principal {
        user_id: user.id,
        username: user.username,
        roles: user.roles,
        credential_id: None,
        session_id: Some(session.id),
        amr: session.amr,
    })
}
