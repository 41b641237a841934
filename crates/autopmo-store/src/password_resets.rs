//! Password-reset tokens (guide §2.1 `resetPasswordAllowed`). Only the
//! SHA-256 of a token is stored. A token is single use: spending it is a
//! conditional update that exactly one caller can win, and only while it has
//! not expired.

use crate::codec::{parse_ts, ts};
use crate::error::Result;
use sqlx::{AnyConnection, Row};
use time::OffsetDateTime;

const TABLE: &str = "password_resets";

/// A reset token as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswordReset {
    /// SHA-256 (hex) of the token.
    pub token_hash: String,
    /// Whose password it resets.
    pub user_id: String,
    /// Issued.
    pub created_at: OffsetDateTime,
    /// Unusable from then on.
    pub expires_at: OffsetDateTime,
    /// Spent (or withdrawn) at.
    pub used_at: Option<OffsetDateTime>,
}

/// Stores a new reset token.
pub async fn insert(conn: &mut AnyConnection, reset: &PasswordReset) -> Result<()> {
    sqlx::query("INSERT INTO password_resets (token_hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)")
        .bind(reset.token_hash.as_str())
        .bind(reset.user_id.as_str())
        .bind(ts(reset.created_at))
        .bind(ts(reset.expires_at))
        .execute(conn)
        .await?;
    Ok(())
}

/// A reset token by the hash of its text.
pub async fn by_hash(conn: &mut AnyConnection, token_hash: &str) -> Result<Option<PasswordReset>> {
    let row = sqlx::query(
        "SELECT token_hash, user_id, created_at, expires_at, used_at FROM password_resets WHERE token_hash = $1",
    )
    .bind(token_hash)
    .fetch_optional(conn)
    .await?;
    row.map(|r| {
        let used: Option<String> = r.try_get(4)?;
        Ok(PasswordReset {
            token_hash: r.try_get(0)?,
            user_id: r.try_get(1)?,
            created_at: parse_ts(TABLE, &r.try_get::<String, _>(2)?)?,
            expires_at: parse_ts(TABLE, &r.try_get::<String, _>(3)?)?,
            used_at: used.map(|u| parse_ts(TABLE, &u)).transpose()?,
        })
    })
    .transpose()
}

/// Spends a token: true for exactly one caller, and only while it is unused
/// and `now` is before its expiry.
pub async fn spend(conn: &mut AnyConnection, token_hash: &str, now: OffsetDateTime) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE password_resets SET used_at = $1 WHERE token_hash = $2 AND used_at IS NULL AND expires_at > $1",
    )
    .bind(ts(now))
    .bind(token_hash)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Withdraws every unused token of a user (after their password changed);
/// returns how many.
pub async fn withdraw_for_user(conn: &mut AnyConnection, user_id: &str, now: OffsetDateTime) -> Result<u64> {
    let done = sqlx::query("UPDATE password_resets SET used_at = $1 WHERE user_id = $2 AND used_at IS NULL")
        .bind(ts(now))
        .bind(user_id)
        .execute(conn)
        .await?;
    Ok(done.rows_affected())
}

/// How many tokens were issued to a user since `since` (to limit how many
/// reset mails one account can be sent).
pub async fn issued_since(conn: &mut AnyConnection, user_id: &str, since: OffsetDateTime) -> Result<i64> {
    let row = sqlx::query("SELECT COUNT(*) FROM password_resets WHERE user_id = $1 AND created_at > $2")
        .bind(user_id)
        .bind(ts(since))
        .fetch_one(conn)
        .await?;
    Ok(row.try_get(0)?)
}
