//! Token signing keys, shared by every replica; the private half is sealed
//! by the keyring before it gets here.

use crate::codec::{parse_ts, ts};
use crate::error::Result;
use sqlx::{AnyConnection, Row};
use time::OffsetDateTime;

/// A stored signing key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredKey {
    /// Key id.
    pub kid: String,
    /// `RS256`.
    pub algorithm: String,
    /// Which key-encryption key sealed it.
    pub kek_id: String,
    /// The sealed PKCS#8 private key.
    pub private_key: String,
    /// The public JWK (JSON).
    pub public_jwk: String,
    /// Made.
    pub created_at: OffsetDateTime,
    /// No longer signs since.
    pub retired_at: Option<OffsetDateTime>,
}

/// Every key, oldest first.
pub async fn all(conn: &mut AnyConnection) -> Result<Vec<StoredKey>> {
    let rows = sqlx::query(
        "SELECT kid, algorithm, kek_id, private_key, public_jwk, created_at, retired_at FROM signing_keys ORDER BY created_at",
    )
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|r| {
            let retired: Option<String> = r.try_get(6)?;
            Ok(StoredKey {
                kid: r.try_get(0)?,
                algorithm: r.try_get(1)?,
                kek_id: r.try_get(2)?,
                private_key: r.try_get(3)?,
                public_jwk: r.try_get(4)?,
                created_at: parse_ts("signing_keys", &r.try_get::<String, _>(5)?)?,
                retired_at: retired.map(|t| parse_ts("signing_keys", &t)).transpose()?,
            })
        })
        .collect()
}

/// Stores a new key.
pub async fn insert(conn: &mut AnyConnection, k: &StoredKey) -> Result<()> {
    sqlx::query(
        "INSERT INTO signing_keys (kid, algorithm, kek_id, private_key, public_jwk, created_at, retired_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(k.kid.as_str())
    .bind(k.algorithm.as_str())
    .bind(k.kek_id.as_str())
    .bind(k.private_key.as_str())
    .bind(k.public_jwk.as_str())
    .bind(ts(k.created_at))
    .bind(k.retired_at.map(ts))
    .execute(conn)
    .await?;
    Ok(())
}

/// Retires every key but `keep`.
pub async fn retire_others(conn: &mut AnyConnection, keep: &str, now: OffsetDateTime) -> Result<()> {
    sqlx::query("UPDATE signing_keys SET retired_at = $1 WHERE kid <> $2 AND retired_at IS NULL")
        .bind(ts(now))
        .bind(keep)
        .execute(conn)
        .await?;
    Ok(())
}
