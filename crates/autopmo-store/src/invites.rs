//! Single-use, expiring invitations: how people get accounts without
//! self-registration (`registrationAllowed: false`). Only hashes are stored.

use crate::codec::{parse_ts, ts};
use crate::error::Result;
use sqlx::{AnyConnection, Row};
use time::OffsetDateTime;

/// An invitation as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invite {
    /// SHA-256 of the token.
    pub token_hash: String,
    /// The invited address, normalised.
    pub email_normalized: String,
    /// Roles (JSON array of names).
    pub roles: String,
    /// Who invited (user id), if a user.
    pub created_by: Option<String>,
    /// Made.
    pub created_at: OffsetDateTime,
    /// Expires.
    pub expires_at: OffsetDateTime,
    /// Used.
    pub used_at: Option<OffsetDateTime>,
}

/// Stores an invitation.
pub async fn insert(conn: &mut AnyConnection, i: &Invite) -> Result<()> {
    sqlx::query(
        "INSERT INTO invites (token_hash, email_normalized, roles, created_by, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(i.token_hash.as_str())
    .bind(i.email_normalized.as_str())
    .bind(i.roles.as_str())
    .bind(i.created_by.clone())
    .bind(ts(i.created_at))
    .bind(ts(i.expires_at))
    .execute(conn)
    .await?;
    Ok(())
}

/// An invitation that is unused and not expired at `now`.
pub async fn valid(conn: &mut AnyConnection, token_hash: &str, now: OffsetDateTime) -> Result<Option<Invite>> {
    let row = sqlx::query(
        "SELECT token_hash, email_normalized, roles, created_by, created_at, expires_at, used_at FROM invites \
         WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2",
    )
    .bind(token_hash)
    .bind(ts(now))
    .fetch_optional(conn)
    .await?;
    row.map(|r| {
        Ok(Invite {
            token_hash: r.try_get(0)?,
            email_normalized: r.try_get(1)?,
            roles: r.try_get(2)?,
            created_by: r.try_get(3)?,
            created_at: parse_ts("invites", &r.try_get::<String, _>(4)?)?,
            expires_at: parse_ts("invites", &r.try_get::<String, _>(5)?)?,
            used_at: None,
        })
    })
    .transpose()
}

/// Spends an invitation: true for exactly one caller while it is unused and
/// unexpired.
pub async fn spend(conn: &mut AnyConnection, token_hash: &str, now: OffsetDateTime) -> Result<bool> {
    let done =
        sqlx::query("UPDATE invites SET used_at = $1 WHERE token_hash = $2 AND used_at IS NULL AND expires_at > $1")
            .bind(ts(now))
            .bind(token_hash)
            .execute(conn)
            .await?;
    Ok(done.rows_affected() == 1)
}
