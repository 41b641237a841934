//! OIDC federation: external identities linked to users, and browser
//! logins in progress (single-use `state`s).

use crate::codec::{parse_ts, ts};
use crate::error::{Result, StoreError};
use autopmo_domain::{Role, UserId};
use sqlx::{AnyConnection, Row};
use time::OffsetDateTime;

/// The user an external identity is linked to, if any.
pub async fn find_identity(conn: &mut AnyConnection, issuer: &str, subject: &str) -> Result<Option<UserId>> {
    let row = sqlx::query("SELECT user_id FROM federated_identities WHERE issuer = $1 AND subject = $2")
        .bind(issuer)
        .bind(subject)
        .fetch_optional(conn)
        .await?;
    row.map(|r| r.try_get::<String, _>("user_id")?.parse().map_err(|e| StoreError::corrupt("federated_identities", e)))
        .transpose()
}

/// Links an external identity to `user`.
pub async fn link_identity(
    conn: &mut AnyConnection,
    issuer: &str,
    subject: &str,
    user: UserId,
    now: OffsetDateTime,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO federated_identities (issuer, subject, user_id, linked_at, last_login_at) VALUES ($1, $2, $3, $4, $4)",
    )
    .bind(issuer)
    .bind(subject)
    .bind(user.to_string())
    .bind(ts(now))
    .execute(conn)
    .await?;
    Ok(())
}

/// Records a login with an external identity.
pub async fn touch_identity(conn: &mut AnyConnection, issuer: &str, subject: &str, now: OffsetDateTime) -> Result<()> {
    sqlx::query("UPDATE federated_identities SET last_login_at = $1 WHERE issuer = $2 AND subject = $3")
        .bind(ts(now))
        .bind(issuer)
        .bind(subject)
        .execute(conn)
        .await?;
    Ok(())
}

/// Replaces `user`'s roles with `roles` (the provider is authoritative for
/// federated users); see [`crate::users::set_roles`].
pub async fn set_roles(conn: &mut AnyConnection, user: UserId, roles: &[Role], now: OffsetDateTime) -> Result<()> {
    crate::users::set_roles(conn, user, roles, now).await
}

/// Stores a browser login in progress.
pub async fn insert_login(
    conn: &mut AnyConnection,
    state_hash: &str,
    issuer_name: &str,
    now: OffsetDateTime,
    expires_at: OffsetDateTime,
) -> Result<()> {
    sqlx::query("DELETE FROM oidc_logins WHERE expires_at < $1").bind(ts(now)).execute(&mut *conn).await?;
    sqlx::query("INSERT INTO oidc_logins (state_hash, issuer_name, created_at, expires_at) VALUES ($1, $2, $3, $4)")
        .bind(state_hash)
        .bind(issuer_name)
        .bind(ts(now))
        .bind(ts(expires_at))
        .execute(conn)
        .await?;
    Ok(())
}

/// Takes (deletes) a browser login by its state's hash: `Some(issuer name)`
/// when it existed and had not expired. Of two callbacks with one state,
/// exactly one gets it.
pub async fn take_login(conn: &mut AnyConnection, state_hash: &str, now: OffsetDateTime) -> Result<Option<String>> {
    let row = sqlx::query("DELETE FROM oidc_logins WHERE state_hash = $1 RETURNING issuer_name, expires_at")
        .bind(state_hash)
        .fetch_optional(conn)
        .await?;
    let Some(row) = row else { return Ok(None) };
    let expires = parse_ts("oidc_logins", &row.try_get::<String, _>("expires_at")?)?;
    Ok((now < expires).then(|| row.try_get::<String, _>("issuer_name")).transpose()?)
}
