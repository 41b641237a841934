//! The audit trail's rows: appending (through a unit of work), reading in
//! chain order, filtered queries, checkpoints and subject keys.

use crate::codec::{parse_ts, ts};
use crate::error::{Result, StoreError};
use autopmo_audit::{Actor, AuditRecord, Category, ChainHead, Outcome, Resource};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

const TABLE: &str = "audit_events";
pub(crate) const COLUMNS: &str = "SELECT sequence, event_id, occurred_at, event_type, category, actor_user_id, \
    actor_subject, actor_username, actor_ip, actor_user_agent, resource_type, resource_id, resource_name, action, \
    status, metadata, request_id, session_id, decision_id, prev_hash, hash FROM audit_events";

pub(crate) async fn insert(conn: &mut AnyConnection, r: &AuditRecord) -> Result<()> {
    let resource = r.resource.as_ref();
    sqlx::query(
        "INSERT INTO audit_events (sequence, event_id, occurred_at, event_type, category, actor_user_id, actor_subject, \
         actor_username, actor_ip, actor_user_agent, resource_type, resource_id, resource_name, action, status, metadata, \
         request_id, session_id, decision_id, prev_hash, hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, \
         $13, $14, $15, $16, $17, $18, $19, $20, $21)",
    )
    .bind(r.sequence)
    .bind(r.event_id.as_str())
    .bind(ts(r.timestamp))
    .bind(r.event_type.as_str())
    .bind(r.category.as_str())
    .bind(r.actor.user_id.clone())
    .bind(r.actor.subject.clone())
    .bind(r.actor.username.clone())
    .bind(r.actor.ip_address.clone())
    .bind(r.actor.user_agent.clone())
    .bind(resource.map(|x| x.kind.clone()))
    .bind(resource.and_then(|x| x.id.clone()))
    .bind(resource.and_then(|x| x.name.clone()))
    .bind(r.action.as_str())
    .bind(r.status.as_str())
    .bind(r.metadata.as_str())
    .bind(r.request_id.clone())
    .bind(r.session_id.clone())
    .bind(r.decision_id.clone())
    .bind(r.prev_hash.as_str())
    .bind(r.hash.as_str())
    .execute(conn)
    .await?;
    Ok(())
}

/// Records with `from <= sequence <= to`, in chain order, at most `limit`.
pub async fn range(
    conn: &mut AnyConnection,
    from: i64,
    to: i64,
    limit: i64,
) -> Result<Vec<AuditRecord>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "{COLUMNS} WHERE sequence >= $1 AND sequence <= $2 ORDER BY sequence LIMIT $3"
    )))
    .bind(from)
    .bind(to)
    .bind(limit)
    .fetch_all(conn)
    .await?;
    rows.iter().map(from_row).collect()
}

/// The lowest and highest sequence present (`None` when the table is empty).
pub async fn bounds(conn: &mut AnyConnection) -> Result<Option<(i64, i64)>> {
    let row = sqlx::query("SELECT MIN(sequence), MAX(sequence) FROM audit_events")
        .fetch_one(conn)
        .await?;
    let min: Option<i64> = row.try_get(0)?;
    let max: Option<i64> = row.try_get(1)?;
    Ok(min.zip(max))
}

/// The committed chain head.
pub async fn head(conn: &mut AnyConnection) -> Result<ChainHead> {
    let row = sqlx::query("SELECT sequence, hash FROM audit_head WHERE id = 1")
        .fetch_one(conn)
        .await?;
    Ok(ChainHead {
        sequence: row.try_get(0)?,
        hash: row.try_get(1)?,
    })
}

/// Number of records.
pub async fn count(conn: &mut AnyConnection) -> Result<i64> {
    Ok(sqlx::query("SELECT COUNT(*) FROM audit_events")
        .fetch_one(conn)
        .await?
        .try_get(0)?)
}

pub(crate) fn from_row(row: &AnyRow) -> Result<AuditRecord> {
    let category: String = row.try_get("category")?;
    let status: String = row.try_get("status")?;
    let resource_type: Option<String> = row.try_get("resource_type")?;
    Ok(AuditRecord {
        sequence: row.try_get("sequence")?,
        event_id: row.try_get("event_id")?,
        timestamp: parse_ts(TABLE, &row.try_get::<String, _>("occurred_at")?)?,
        event_type: row.try_get("event_type")?,
        category: Category::parse(&category)
            .ok_or_else(|| StoreError::corrupt(TABLE, "unknown category"))?,
        actor: Actor {
            user_id: row.try_get("actor_user_id")?,
            subject: row.try_get("actor_subject")?,
            username: row.try_get("actor_username")?,
            ip_address: row.try_get("actor_ip")?,
            user_agent: row.try_get("actor_user_agent")?,
        },
        resource: match resource_type {
            Some(kind) => Some(Resource {
                kind,
                id: row.try_get("resource_id")?,
                name: row.try_get("resource_name")?,
            }),
            None => None,
        },
        action: row.try_get("action")?,
        status: Outcome::parse(&status)
            .ok_or_else(|| StoreError::corrupt(TABLE, "unknown status"))?,
        metadata: row.try_get("metadata")?,
        request_id: row.try_get("request_id")?,
        session_id: row.try_get("session_id")?,
        decision_id: row.try_get("decision_id")?,
        prev_hash: row.try_get("prev_hash")?,
        hash: row.try_get("hash")?,
    })
}
