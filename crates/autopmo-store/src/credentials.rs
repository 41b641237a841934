//! Passwords and the brute-force state of accounts and client addresses.
//! The state itself is the identity crate's (stored as JSON text); this
//! module only keeps it.

use crate::codec::ts;
use crate::error::Result;
use sqlx::{AnyConnection, Row};
use time::OffsetDateTime;

/// Sets a user's password hash.
pub async fn set_password(
    conn: &mut AnyConnection,
    user_id: &str,
    hash: &str,
    must_change: bool,
    now: OffsetDateTime,
) -> Result<()> {
    sqlx::query(
        "UPDATE users SET password_hash = $1, must_change_password = $2, password_changed_at = $3, updated_at = $3, \
         version = version + 1 WHERE id = $4",
    )
    .bind(hash)
    .bind(i64::from(must_change))
    .bind(ts(now))
    .bind(user_id)
    .execute(conn)
    .await?;
    Ok(())
}

/// Replaces a hash after a parameter upgrade, if it is still the old one.
pub async fn upgrade_hash(conn: &mut AnyConnection, user_id: &str, old: &str, new: &str) -> Result<()> {
    sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2 AND password_hash = $3")
        .bind(new)
        .bind(user_id)
        .bind(old)
        .execute(conn)
        .await?;
    Ok(())
}

/// The brute-force state of an account (JSON), if any.
pub async fn login_failures(conn: &mut AnyConnection, user_id: &str) -> Result<Option<String>> {
    let row =
        sqlx::query("SELECT state FROM login_failures WHERE user_id = $1").bind(user_id).fetch_optional(conn).await?;
    row.map(|r| Ok(r.try_get(0)?)).transpose()
}

/// Stores the brute-force state of an account.
pub async fn save_login_failures(
    conn: &mut AnyConnection,
    user_id: &str,
    state: &str,
    now: OffsetDateTime,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO login_failures (user_id, state, updated_at) VALUES ($1, $2, $3) \
         ON CONFLICT (user_id) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at",
    )
    .bind(user_id)
    .bind(state)
    .bind(ts(now))
    .execute(conn)
    .await?;
    Ok(())
}

/// The throttle state of a client address key (JSON), if any.
pub async fn address_throttle(conn: &mut AnyConnection, key: &str) -> Result<Option<String>> {
    let row = sqlx::query("SELECT state FROM address_throttles WHERE address_key = $1")
        .bind(key)
        .fetch_optional(conn)
        .await?;
    row.map(|r| Ok(r.try_get(0)?)).transpose()
}

/// Stores the throttle state of a client address key.
pub async fn save_address_throttle(
    conn: &mut AnyConnection,
    key: &str,
    state: &str,
    now: OffsetDateTime,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO address_throttles (address_key, state, updated_at) VALUES ($1, $2, $3) \
         ON CONFLICT (address_key) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at",
    )
    .bind(key)
    .bind(state)
    .bind(ts(now))
    .execute(conn)
    .await?;
    Ok(())
}
