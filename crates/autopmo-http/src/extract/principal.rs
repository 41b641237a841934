//! Who is calling. Every `/api/v1` route except health, discovery and login
//! takes a [`Principal`]; a request without valid credentials is answered
//! 401 before the handler runs.
//!
//! Credentials today are personal API tokens (`Authorization: Bearer
//! apmo_pat_…`); the sessions and RS256 tokens of the authentication work
//! plug in here.

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
    /// The credential used (API token id).
    pub credential_id: uuid::Uuid,
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
        let mut conn = state.store.read().await?;
        let found = autopmo_store::tokens::authenticate(&mut conn, token.trim(), state.now()).await?;
        drop(conn);
        let (credential_id, user) = found.ok_or(ApiError::Unauthenticated)?;
        if let Some(ctx) = parts.extensions.get::<crate::audit::AuditCtx>() {
            ctx.authenticated(state, user.id, user.username.as_str()).await?;
        }
        Ok(Self { user_id: user.id, username: user.username, roles: user.roles, credential_id })
    }
}
