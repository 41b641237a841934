//! API keys: personal API tokens (scripts acting as a person) and the keys
//! of service accounts (agents and integrations).
//!
//! A personal token is `apmo_pat_`, a service-account key `apmo_sak_`,
//! followed by 43 base64url characters (256 random bits); the prefix lets
//! secret scanners spot a leaked one. Only the SHA-256 is stored — a
//! high-entropy secret needs no slow hash — so a database dump reveals no
//! usable key. Both live in `api_tokens`; a key is accepted only for a user
//! of the matching kind (a personal token for a person, a service-account
//! key for a service account).

use crate::codec::{parse_ts, ts};
use crate::error::{Result, StoreError};
use crate::users::UserKind;
use autopmo_domain::{User, UserId, UserStatus};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use sqlx::{AnyConnection, Row};
use time::OffsetDateTime;
use uuid::Uuid;

/// The prefix every personal API token starts with.
pub const PREFIX: &str = "apmo_pat_";

/// The prefix every service-account key starts with.
pub const SERVICE_KEY_PREFIX: &str = "apmo_sak_";

/// The longest presented key looked up (a real one is 52 characters).
const MAX_LEN: usize = 128;

/// Whether `token` looks like an API key of either kind (personal token or
/// service-account key), as opposed to an access token.
pub fn is_api_key(token: &str) -> bool {
    token.starts_with(PREFIX) || token.starts_with(SERVICE_KEY_PREFIX)
}

/// The id of an API key.
pub type KeyId = Uuid;

/// An API key as listed: never its secret or hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyInfo {
    /// Id.
    pub id: KeyId,
    /// Whose key it is.
    pub user_id: UserId,
    /// What it is for.
    pub name: String,
    /// Issued.
    pub created_at: OffsetDateTime,
    /// It stops working then (if ever).
    pub expires_at: Option<OffsetDateTime>,
    /// Revoked then.
    pub revoked_at: Option<OffsetDateTime>,
}

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

/// Issues a personal token for `user`, valid until `expires_at` (or revoked).
pub async fn issue(
    conn: &mut AnyConnection,
    user: UserId,
    name: &str,
    random: [u8; 32],
    now: OffsetDateTime,
    expires_at: Option<OffsetDateTime>,
) -> Result<IssuedToken> {
    issue_with(conn, PREFIX, user, name, random, now, expires_at).await
}

/// Issues a key for the service account `account`, valid until
/// `expires_at` (or revoked).
pub async fn issue_service_key(
    conn: &mut AnyConnection,
    account: UserId,
    name: &str,
    random: [u8; 32],
    now: OffsetDateTime,
    expires_at: Option<OffsetDateTime>,
) -> Result<IssuedToken> {
    issue_with(conn, SERVICE_KEY_PREFIX, account, name, random, now, expires_at).await
}

async fn issue_with(
    conn: &mut AnyConnection,
    prefix: &str,
    user: UserId,
    name: &str,
    random: [u8; 32],
    now: OffsetDateTime,
    expires_at: Option<OffsetDateTime>,
) -> Result<IssuedToken> {
    let secret = format!("{prefix}{}", URL_SAFE_NO_PAD.encode(random));
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

/// The active user a presented key belongs to; `None` for an unknown,
/// expired or revoked key, a key presented with the other kind's prefix, or
/// a user who may not sign in (disabled, locked).
pub async fn authenticate(conn: &mut AnyConnection, secret: &str, now: OffsetDateTime) -> Result<Option<(Uuid, User)>> {
    let expected = if secret.starts_with(PREFIX) {
        UserKind::Person
    } else if secret.starts_with(SERVICE_KEY_PREFIX) {
        UserKind::Service
    } else {
        return Ok(None);
    };
    if secret.len() > MAX_LEN {
        return Ok(None);
    }
    let row = sqlx::query(
        "SELECT t.id, t.user_id, t.expires_at, t.revoked_at, u.kind FROM api_tokens t JOIN users u ON u.id = t.user_id \
         WHERE t.token_hash = $1",
    )
    .bind(hash(secret))
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let revoked: Option<String> = row.try_get("revoked_at")?;
    let expires: Option<String> = row.try_get("expires_at")?;
    if revoked.is_some() || UserKind::parse(&row.try_get::<String, _>("kind")?)? != expected {
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

const KEY_COLUMNS: &str = "SELECT id, user_id, name, created_at, expires_at, revoked_at FROM api_tokens";

fn key_from_row(row: &sqlx::any::AnyRow) -> Result<KeyInfo> {
    let opt_ts = |raw: Option<String>| raw.map(|r| parse_ts("api_tokens", &r)).transpose();
    Ok(KeyInfo {
        id: Uuid::parse_str(&row.try_get::<String, _>("id")?).map_err(|e| StoreError::corrupt("api_tokens", e))?,
        user_id: row.try_get::<String, _>("user_id")?.parse().map_err(|e| StoreError::corrupt("api_tokens", e))?,
        name: row.try_get("name")?,
        created_at: parse_ts("api_tokens", &row.try_get::<String, _>("created_at")?)?,
        expires_at: opt_ts(row.try_get("expires_at")?)?,
        revoked_at: opt_ts(row.try_get("revoked_at")?)?,
    })
}

/// One key's metadata.
pub async fn get(conn: &mut AnyConnection, id: Uuid) -> Result<KeyInfo> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!("{KEY_COLUMNS} WHERE id = $1")))
        .bind(id.to_string())
        .fetch_optional(conn)
        .await?
        .ok_or(StoreError::NotFound)?;
    key_from_row(&row)
}

/// Every key of `user` (revoked and expired ones too), oldest first.
pub async fn list_for_user(conn: &mut AnyConnection, user: UserId) -> Result<Vec<KeyInfo>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!("{KEY_COLUMNS} WHERE user_id = $1 ORDER BY created_at, id")))
        .bind(user.to_string())
        .fetch_all(conn)
        .await?;
    rows.iter().map(key_from_row).collect()
}

/// Revokes every key of `user` not revoked yet; returns how many.
pub async fn revoke_all_for_user(conn: &mut AnyConnection, user: UserId, now: OffsetDateTime) -> Result<u64> {
    let result = sqlx::query("UPDATE api_tokens SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL")
        .bind(ts(now))
        .bind(user.to_string())
        .execute(conn)
        .await?;
    Ok(result.rows_affected())
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
