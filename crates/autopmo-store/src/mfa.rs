//! Second factors, recovery codes, pending MFA challenges and the SMS send
//! log (guide §2.2). Secrets arrive here sealed; this module never sees a
//! TOTP secret, a phone number or a recovery code in clear.

use crate::codec::{parse_ts, ts};
use crate::error::{Result, StoreError};
use crate::page::{Arg, Statement};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};
use time::OffsetDateTime;

const FACTORS: &str = "mfa_factors";
const FACTOR_COLUMNS: &str = "SELECT id, user_id, kind, name, secret, credential_id, confirmed_at, last_step, \
                              created_at, last_used_at FROM mfa_factors";

/// A second factor as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Factor {
    /// Its id.
    pub id: String,
    /// Its user.
    pub user_id: String,
    /// `totp`, `webauthn` or `sms`.
    pub kind: String,
    /// The user's name for it ("phone", "YubiKey").
    pub name: String,
    /// Sealed TOTP secret or phone number, or the WebAuthn credential.
    pub secret: String,
    /// The WebAuthn credential id (base64url).
    pub credential_id: Option<String>,
    /// When it was confirmed; unconfirmed factors do not count.
    pub confirmed_at: Option<OffsetDateTime>,
    /// TOTP: the last accepted time step (a code is used once).
    pub last_step: Option<i64>,
    /// Added.
    pub created_at: OffsetDateTime,
    /// Last used to sign in or step up.
    pub last_used_at: Option<OffsetDateTime>,
}

fn factor_of(row: &AnyRow) -> Result<Factor> {
    let opt_ts = |name: &str| -> Result<Option<OffsetDateTime>> {
        row.try_get::<Option<String>, _>(name)?.map(|t| parse_ts(FACTORS, &t)).transpose()
    };
    Ok(Factor {
        id: row.try_get("id")?,
        user_id: row.try_get("user_id")?,
        kind: row.try_get("kind")?,
        name: row.try_get("name")?,
        secret: row.try_get("secret")?,
        credential_id: row.try_get("credential_id")?,
        confirmed_at: opt_ts("confirmed_at")?,
        last_step: row.try_get("last_step")?,
        created_at: parse_ts(FACTORS, &row.try_get::<String, _>("created_at")?)?,
        last_used_at: opt_ts("last_used_at")?,
    })
}

/// Stores a new factor (unconfirmed unless `confirmed_at` is set).
pub async fn insert_factor(conn: &mut AnyConnection, f: &Factor) -> Result<()> {
    sqlx::query(
        "INSERT INTO mfa_factors (id, user_id, kind, name, secret, credential_id, confirmed_at, last_step, created_at, \
         last_used_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(&f.id)
    .bind(&f.user_id)
    .bind(&f.kind)
    .bind(&f.name)
    .bind(&f.secret)
    .bind(&f.credential_id)
    .bind(f.confirmed_at.map(ts))
    .bind(f.last_step)
    .bind(ts(f.created_at))
    .bind(f.last_used_at.map(ts))
    .execute(conn)
    .await
    .map_err(|e| match StoreError::from(e) {
        StoreError::Duplicate(_) => StoreError::Duplicate("factor"),
        other => other,
    })?;
    Ok(())
}

/// The user's factors, oldest first (confirmed or not).
pub async fn factors(conn: &mut AnyConnection, user_id: &str) -> Result<Vec<Factor>> {
    let mut stmt = Statement::new(FACTOR_COLUMNS);
    stmt.push(" WHERE user_id = ").bind(Arg::Text(user_id.to_owned())).push(" ORDER BY created_at, id");
    let rows = stmt.query().fetch_all(conn).await?;
    rows.iter().map(factor_of).collect()
}

/// One factor of the user.
pub async fn factor(conn: &mut AnyConnection, user_id: &str, id: &str) -> Result<Factor> {
    let mut stmt = Statement::new(FACTOR_COLUMNS);
    stmt.push(" WHERE user_id = ")
        .bind(Arg::Text(user_id.to_owned()))
        .push(" AND id = ")
        .bind(Arg::Text(id.to_owned()));
    let row = stmt.query().fetch_optional(conn).await?.ok_or(StoreError::NotFound)?;
    factor_of(&row)
}

/// Marks a factor confirmed.
pub async fn confirm_factor(conn: &mut AnyConnection, id: &str, at: OffsetDateTime) -> Result<()> {
    sqlx::query("UPDATE mfa_factors SET confirmed_at = $1, last_used_at = $1 WHERE id = $2")
        .bind(ts(at))
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Records a use of a TOTP factor at `step` — only if the step is later
/// than the last one used (false: a replay, or a concurrent use won).
pub async fn use_totp_step(conn: &mut AnyConnection, id: &str, step: i64, at: OffsetDateTime) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE mfa_factors SET last_step = $1, last_used_at = $2 WHERE id = $3 AND (last_step IS NULL OR last_step < $1)",
    )
    .bind(step)
    .bind(ts(at))
    .bind(id)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Records a use of a factor, replacing its stored secret when given
/// (a WebAuthn credential's counter).
pub async fn touch_factor(conn: &mut AnyConnection, id: &str, secret: Option<&str>, at: OffsetDateTime) -> Result<()> {
    sqlx::query("UPDATE mfa_factors SET last_used_at = $1, secret = COALESCE($2, secret) WHERE id = $3")
        .bind(ts(at))
        .bind(secret)
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Deletes a factor of the user; false if there was none.
pub async fn delete_factor(conn: &mut AnyConnection, user_id: &str, id: &str) -> Result<bool> {
    let done = sqlx::query("DELETE FROM mfa_factors WHERE user_id = $1 AND id = $2")
        .bind(user_id)
        .bind(id)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Replaces the user's recovery codes with these hashes.
pub async fn replace_recovery_codes(
    conn: &mut AnyConnection,
    user_id: &str,
    hashes: &[String],
    at: OffsetDateTime,
) -> Result<()> {
    sqlx::query("DELETE FROM mfa_recovery_codes WHERE user_id = $1").bind(user_id).execute(&mut *conn).await?;
    for hash in hashes {
        sqlx::query("INSERT INTO mfa_recovery_codes (code_hash, user_id, created_at) VALUES ($1, $2, $3)")
            .bind(hash)
            .bind(user_id)
            .bind(ts(at))
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// Spends a recovery code: true once, for an unused code of the user.
pub async fn use_recovery_code(
    conn: &mut AnyConnection,
    user_id: &str,
    hash: &str,
    at: OffsetDateTime,
) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE mfa_recovery_codes SET used_at = $1 WHERE user_id = $2 AND code_hash = $3 AND used_at IS NULL",
    )
    .bind(ts(at))
    .bind(user_id)
    .bind(hash)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// How many unused recovery codes the user has.
pub async fn recovery_codes_left(conn: &mut AnyConnection, user_id: &str) -> Result<i64> {
    let row = sqlx::query("SELECT COUNT(*) FROM mfa_recovery_codes WHERE user_id = $1 AND used_at IS NULL")
        .bind(user_id)
        .fetch_one(conn)
        .await?;
    Ok(row.try_get(0)?)
}

/// A pending challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// SHA-256 of the token the client holds.
    pub token_hash: String,
    /// Its user.
    pub user_id: String,
    /// `login`, `enroll`, `step_up` or `register`.
    pub purpose: String,
    /// What the ceremony needs to finish (JSON, sealed parts inside).
    pub state: String,
    /// Wrong answers so far.
    pub attempts: i64,
    /// Made.
    pub created_at: OffsetDateTime,
    /// Good until.
    pub expires_at: OffsetDateTime,
}

/// Stores a challenge.
pub async fn insert_challenge(conn: &mut AnyConnection, c: &Challenge) -> Result<()> {
    sqlx::query(
        "INSERT INTO mfa_challenges (token_hash, user_id, purpose, state, attempts, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&c.token_hash)
    .bind(&c.user_id)
    .bind(&c.purpose)
    .bind(&c.state)
    .bind(c.attempts)
    .bind(ts(c.created_at))
    .bind(ts(c.expires_at))
    .execute(conn)
    .await?;
    Ok(())
}

/// An unused challenge by its token's hash (expired ones too: the caller
/// checks the time).
pub async fn challenge(conn: &mut AnyConnection, token_hash: &str) -> Result<Option<Challenge>> {
    let row = sqlx::query(
        "SELECT token_hash, user_id, purpose, state, attempts, created_at, expires_at FROM mfa_challenges \
         WHERE token_hash = $1 AND used_at IS NULL",
    )
    .bind(token_hash)
    .fetch_optional(conn)
    .await?;
    row.map(|row| {
        Ok(Challenge {
            token_hash: row.try_get("token_hash")?,
            user_id: row.try_get("user_id")?,
            purpose: row.try_get("purpose")?,
            state: row.try_get("state")?,
            attempts: row.try_get("attempts")?,
            created_at: parse_ts("mfa_challenges", &row.try_get::<String, _>("created_at")?)?,
            expires_at: parse_ts("mfa_challenges", &row.try_get::<String, _>("expires_at")?)?,
        })
    })
    .transpose()
}

/// Replaces a challenge's state (a WebAuthn ceremony started, an SMS sent).
pub async fn update_challenge_state(conn: &mut AnyConnection, token_hash: &str, state: &str) -> Result<()> {
    sqlx::query("UPDATE mfa_challenges SET state = $1 WHERE token_hash = $2 AND used_at IS NULL")
        .bind(state)
        .bind(token_hash)
        .execute(conn)
        .await?;
    Ok(())
}

/// Counts a wrong answer; returns the attempts so far.
pub async fn count_attempt(conn: &mut AnyConnection, token_hash: &str) -> Result<i64> {
    sqlx::query("UPDATE mfa_challenges SET attempts = attempts + 1 WHERE token_hash = $1")
        .bind(token_hash)
        .execute(&mut *conn)
        .await?;
    let row = sqlx::query("SELECT attempts FROM mfa_challenges WHERE token_hash = $1")
        .bind(token_hash)
        .fetch_optional(conn)
        .await?;
    Ok(row.map(|r| r.try_get(0)).transpose()?.unwrap_or(i64::MAX))
}

/// Spends a challenge: true once.
pub async fn spend_challenge(conn: &mut AnyConnection, token_hash: &str, at: OffsetDateTime) -> Result<bool> {
    let done = sqlx::query("UPDATE mfa_challenges SET used_at = $1 WHERE token_hash = $2 AND used_at IS NULL")
        .bind(ts(at))
        .bind(token_hash)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Records an SMS sent to the user.
pub async fn record_sms(conn: &mut AnyConnection, id: &str, user_id: &str, at: OffsetDateTime) -> Result<()> {
    sqlx::query("INSERT INTO mfa_sms_sends (id, user_id, sent_at) VALUES ($1, $2, $3)")
        .bind(id)
        .bind(user_id)
        .bind(ts(at))
        .execute(conn)
        .await?;
    Ok(())
}

/// SMS sent to the user since `since`.
pub async fn sms_sent_since(conn: &mut AnyConnection, user_id: &str, since: OffsetDateTime) -> Result<i64> {
    let row = sqlx::query("SELECT COUNT(*) FROM mfa_sms_sends WHERE user_id = $1 AND sent_at >= $2")
        .bind(user_id)
        .bind(ts(since))
        .fetch_one(conn)
        .await?;
    Ok(row.try_get(0)?)
}
