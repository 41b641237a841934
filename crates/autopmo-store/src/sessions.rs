//! Server-side sessions and their refresh tokens (guide §2.3).
//!
//! A session has a public id (the `sid` claim of its access tokens) and a
//! secret whose hash is stored (the browser cookie). Refresh tokens are
//! single use: spending one is a conditional update that exactly one caller
//! can win, so of two concurrent refreshes with the same token one succeeds.

use crate::codec::{parse_ts, ts};
use crate::error::{Result, StoreError};
use crate::row::Columns;
use sqlx::{AnyConnection, Row};
use time::OffsetDateTime;

const TABLE: &str = "sessions";

/// How the session is held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionKind {
    /// A browser, by cookie.
    Browser,
    /// An API client, by access and refresh tokens.
    Api,
}

impl SessionKind {
    fn as_str(self) -> &'static str {
        match self {
            Self::Browser => "browser",
            Self::Api => "api",
        }
    }
}

/// A session as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// Public id (`sid`).
    pub id: String,
    /// Its user.
    pub user_id: String,
    /// Browser or API.
    pub kind: SessionKind,
    /// Started.
    pub created_at: OffsetDateTime,
    /// Last use (for the idle timeout).
    pub last_seen_at: OffsetDateTime,
    /// It ends then, whatever the activity.
    pub absolute_expires_at: OffsetDateTime,
    /// When the user last proved who they are (login or step-up).
    pub auth_time: OffsetDateTime,
    /// How (`pwd`, `otp`, `hwk`, …).
    pub amr: Vec<String>,
    /// Ended early, and why.
    pub revoked: Option<(OffsetDateTime, String)>,
}

pub(crate) const COLUMNS: &str = "SELECT id, user_id, kind, created_at, last_seen_at, absolute_expires_at, auth_time, amr, \
                       revoked_at, revoked_reason FROM sessions";

pub(crate) fn from_row(row: &impl Columns) -> Result<Session> {
    let kind = match row.text("kind")?.as_str() {
        "browser" => SessionKind::Browser,
        "api" => SessionKind::Api,
        other => return Err(StoreError::corrupt(TABLE, format!("kind {other}"))),
    };
    let revoked_at = row.opt_text("revoked_at")?;
    let revoked = match revoked_at {
        Some(at) => Some((parse_ts(TABLE, &at)?, row.opt_text("revoked_reason")?.unwrap_or_default())),
        None => None,
    };
    let amr = row.text("amr")?;
    Ok(Session {
        id: row.text("id")?,
        user_id: row.text("user_id")?,
        kind,
        created_at: parse_ts(TABLE, &row.text("created_at")?)?,
        last_seen_at: parse_ts(TABLE, &row.text("last_seen_at")?)?,
        absolute_expires_at: parse_ts(TABLE, &row.text("absolute_expires_at")?)?,
        auth_time: parse_ts(TABLE, &row.text("auth_time")?)?,
        amr: serde_json::from_str(&amr).map_err(|e| StoreError::corrupt(TABLE, e))?,
        revoked,
    })
}

/// Stores a new session with the hash of its secret.
pub async fn insert(conn: &mut AnyConnection, s: &Session, secret_hash: &str) -> Result<()> {
    sqlx::query(
        "INSERT INTO sessions (id, user_id, secret_hash, kind, created_at, last_seen_at, absolute_expires_at, auth_time, amr) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(s.id.as_str())
    .bind(s.user_id.as_str())
    .bind(secret_hash)
    .bind(s.kind.as_str())
    .bind(ts(s.created_at))
    .bind(ts(s.last_seen_at))
    .bind(ts(s.absolute_expires_at))
    .bind(ts(s.auth_time))
    .bind(serde_json::to_string(&s.amr).unwrap_or_else(|_| "[]".to_owned()))
    .execute(conn)
    .await?;
    Ok(())
}

/// A session by its public id.
pub async fn get(conn: &mut AnyConnection, id: &str) -> Result<Option<Session>> {
    let row =
        sqlx::query(sqlx::AssertSqlSafe(format!("{COLUMNS} WHERE id = $1"))).bind(id).fetch_optional(conn).await?;
    row.as_ref().map(from_row).transpose()
}

/// The user's sessions that are not revoked, newest first.
pub async fn active_for_user(conn: &mut AnyConnection, user_id: &str) -> Result<Vec<Session>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "{COLUMNS} WHERE user_id = $1 AND revoked_at IS NULL ORDER BY created_at DESC"
    )))
    .bind(user_id)
    .fetch_all(conn)
    .await?;
    rows.iter().map(from_row).collect()
}

/// Records activity (slides the idle timeout).
pub async fn touch(conn: &mut AnyConnection, id: &str, now: OffsetDateTime) -> Result<()> {
    sqlx::query("UPDATE sessions SET last_seen_at = $1 WHERE id = $2 AND revoked_at IS NULL")
        .bind(ts(now))
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Raises the session after a second factor (step-up): new `auth_time` and `amr`.
pub async fn step_up(conn: &mut AnyConnection, id: &str, amr: &[String], now: OffsetDateTime) -> Result<()> {
    sqlx::query("UPDATE sessions SET auth_time = $1, amr = $2 WHERE id = $3 AND revoked_at IS NULL")
        .bind(ts(now))
        .bind(serde_json::to_string(amr).unwrap_or_else(|_| "[]".to_owned()))
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Ends one session; false when it was already ended or does not exist.
pub async fn revoke(conn: &mut AnyConnection, id: &str, reason: &str, now: OffsetDateTime) -> Result<bool> {
    let done =
        sqlx::query("UPDATE sessions SET revoked_at = $1, revoked_reason = $2 WHERE id = $3 AND revoked_at IS NULL")
            .bind(ts(now))
            .bind(reason)
            .bind(id)
            .execute(conn)
            .await?;
    Ok(done.rows_affected() > 0)
}

/// Ends every session of a user; returns how many.
pub async fn revoke_all_for_user(
    conn: &mut AnyConnection,
    user_id: &str,
    reason: &str,
    now: OffsetDateTime,
) -> Result<u64> {
    let done = sqlx::query(
        "UPDATE sessions SET revoked_at = $1, revoked_reason = $2 WHERE user_id = $3 AND revoked_at IS NULL",
    )
    .bind(ts(now))
    .bind(reason)
    .bind(user_id)
    .execute(conn)
    .await?;
    Ok(done.rows_affected())
}

/// A refresh token as stored (by hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshToken {
    /// SHA-256 of the token.
    pub token_hash: String,
    /// Its session.
    pub session_id: String,
    /// Every token rotated from one login shares a family.
    pub family_id: String,
    /// Issued.
    pub issued_at: OffsetDateTime,
    /// Expires.
    pub expires_at: OffsetDateTime,
    /// Spent (rotated) at.
    pub used_at: Option<OffsetDateTime>,
}

/// Stores a refresh token.
pub async fn insert_refresh(conn: &mut AnyConnection, t: &RefreshToken) -> Result<()> {
    sqlx::query(
        "INSERT INTO refresh_tokens (token_hash, session_id, family_id, issued_at, expires_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(t.token_hash.as_str())
    .bind(t.session_id.as_str())
    .bind(t.family_id.as_str())
    .bind(ts(t.issued_at))
    .bind(ts(t.expires_at))
    .execute(conn)
    .await?;
    Ok(())
}

/// A refresh token by hash.
pub async fn refresh_by_hash(conn: &mut AnyConnection, token_hash: &str) -> Result<Option<RefreshToken>> {
    let row = sqlx::query(
        "SELECT token_hash, session_id, family_id, issued_at, expires_at, used_at FROM refresh_tokens WHERE token_hash = $1",
    )
    .bind(token_hash)
    .fetch_optional(conn)
    .await?;
    row.map(|r| {
        let used: Option<String> = r.try_get(5)?;
        Ok(RefreshToken {
            token_hash: r.try_get(0)?,
            session_id: r.try_get(1)?,
            family_id: r.try_get(2)?,
            issued_at: parse_ts("refresh_tokens", &r.try_get::<String, _>(3)?)?,
            expires_at: parse_ts("refresh_tokens", &r.try_get::<String, _>(4)?)?,
            used_at: used.map(|u| parse_ts("refresh_tokens", &u)).transpose()?,
        })
    })
    .transpose()
}

/// Spends a refresh token: true for exactly one caller, false when it was
/// already spent (a reuse).
pub async fn spend_refresh(conn: &mut AnyConnection, token_hash: &str, now: OffsetDateTime) -> Result<bool> {
    let done = sqlx::query("UPDATE refresh_tokens SET used_at = $1 WHERE token_hash = $2 AND used_at IS NULL")
        .bind(ts(now))
        .bind(token_hash)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Ends the sessions of a token family (after a reuse: RFC 9700 §4.14.2).
pub async fn revoke_family(conn: &mut AnyConnection, family_id: &str, now: OffsetDateTime) -> Result<u64> {
    let done = sqlx::query(
        "UPDATE sessions SET revoked_at = $1, revoked_reason = 'refresh_token_reuse' WHERE revoked_at IS NULL AND id IN \
         (SELECT session_id FROM refresh_tokens WHERE family_id = $2)",
    )
    .bind(ts(now))
    .bind(family_id)
    .execute(conn)
    .await?;
    Ok(done.rows_affected())
}
