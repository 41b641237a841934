//! Personal API tokens: how API clients authenticate until the sessions and
//! tokens of the authentication work arrive, and afterwards for scripts.
//!
//! A token is `apmo_pat_` followed by 43 base64url characters (256 random
//! bits); the prefix lets secret scanners spot a leaked one. Only its SHA-256
//! is stored — a high-entropy secret needs no slow hash — so a database dump
//! reveals no usable token.

use crate::codec::{parse_ts, ts};
use crate::error::{Result, StoreError};
use autopmo_domain::{User, UserId, UserStatus};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use sqlx::{AnyConnection, Row};
use time::OffsetDateTime;
use uuid::Uuid;

/// The prefix every personal API token starts with.
pub const PREFIX: &str = "apmo_pat_";

/// A freshly issued token: shown once, never stored.
pub struct IssuedToken {
    /// The token's id (not secret).
    pub id: Uuid,
    /// The secret to hand to the user.
    pub secret: String,
}

impl std::fmt::Debug for IssuedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedToken").field("id", &self.id).field("secret", &"<redacted>").finish()
    }
}

/// The SHA-256 of a presented token, as stored.
pub fn hash(secret: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(secret.as_bytes()))
}

/// Issues a token for `user`, valid until `expires_at` (or revoked).
pub async fn issue(
    conn: &mut AnyConnection,
    user: UserId,
    name: &str,
    random: [u8; 32],
    now: OffsetDateTime,
    expires_at: Option<OffsetDateTime>,
) -> Result<IssuedToken> {
    let secret = format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(random));
    let id = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO api_tokens (id, user_id, name, token_hash, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(id.to_string())
    .bind(user.to_string())
    .bind(name)
    .bind(hash(&secret))
    .bind(ts(now))
    .bind(expires_at.map(ts))
    .execute(conn)
    .await?;
    Ok(IssuedToken { id, secret })
}

/// The active user a presented token belongs to; `None` for an unknown,
/// expired or revoked token, or a user who may not sign in.
pub async fn authenticate(conn: &mut AnyConnection, secret: &str, now: OffsetDateTime) -> Result<Option<(Uuid, User)>> {
    if !secret.starts_with(PREFIX) || secret.len() > 128 {
        return Ok(None);
    }
    let row = sqlx::query("SELECT id, user_id, expires_at, revoked_at FROM api_tokens WHERE token_hash = $1")
        .bind(hash(secret))
        .fetch_optional(&mut *conn)
        .await?;
    let Some(row) = row else { return Ok(None) };
    let revoked: Option<String> = row.try_get("revoked_at")?;
    let expires: Option<String> = row.try_get("expires_at")?;
    if revoked.is_some() {
        return Ok(None);
    }
    if let Some(expires) = expires
        && parse_ts("api_tokens", &expires)? <= now
    {
        return Ok(None);
    }
    let id = Uuid::parse_str(&row.try_get::<String, _>("id")?).map_err(|e| StoreError::corrupt("api_tokens", e))?;
    let user_id: UserId =
        row.try_get::<String, _>("user_id")?.parse().map_err(|e| StoreError::corrupt("api_tokens", e))?;
    let user = crate::users::get(conn, user_id).await?;
    Ok((user.status == UserStatus::Active).then_some((id, user)))
}

/// Revokes a token.
pub async fn revoke(conn: &mut AnyConnection, id: Uuid, now: OffsetDateTime) -> Result<()> {
    let result = sqlx::query("UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
        .bind(ts(now))
        .bind(id.to_string())
        .execute(conn)
        .await?;
    if result.rows_affected() == 0 { Err(StoreError::NotFound) } else { Ok(()) }
}
