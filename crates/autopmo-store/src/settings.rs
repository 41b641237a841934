//! Realm settings (name → JSON value), imported from a Keycloak realm export.

use crate::codec::ts;
use crate::error::Result;
use sqlx::{AnyConnection, Row};
use time::OffsetDateTime;

/// Every setting, `(name, JSON text)`, by name.
pub async fn all(conn: &mut AnyConnection) -> Result<Vec<(String, String)>> {
    let rows = sqlx::query("SELECT name, value FROM realm_settings ORDER BY name").fetch_all(conn).await?;
    rows.iter().map(|r| Ok((r.try_get(0)?, r.try_get(1)?))).collect()
}

/// Sets one setting.
pub async fn put(conn: &mut AnyConnection, name: &str, value: &str, now: OffsetDateTime) -> Result<()> {
    sqlx::query(
        "INSERT INTO realm_settings (name, value, updated_at) VALUES ($1, $2, $3) \
         ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
    )
    .bind(name)
    .bind(value)
    .bind(ts(now))
    .execute(conn)
    .await?;
    Ok(())
}
