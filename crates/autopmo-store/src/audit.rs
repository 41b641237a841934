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

/// Columns of one audit row, in the order [`insert`] binds them.
const INSERT_COLUMNS: usize = 21;

/// Rows written by one `INSERT` statement (well below every engine's limit
/// on bound parameters).
pub(crate) const INSERT_ROWS: usize = 64;

pub(crate) async fn insert(conn: &mut AnyConnection, r: &AuditRecord) -> Result<()> {
    insert_many(conn, std::slice::from_ref(r)).await
}

/// Writes `records` with one statement per [`INSERT_ROWS`] rows: a batch of
/// request events costs a few round trips to the database, not one each.
pub(crate) async fn insert_many(conn: &mut AnyConnection, records: &[AuditRecord]) -> Result<()> {
    // SQLite finds a numbered parameter (`$7`) by a linear search of the
    // statement's names, once per parameter bound: quadratic in a
    // multi-row statement. Its anonymous `?` needs no search.
    let anonymous = conn.backend_name().eq_ignore_ascii_case("sqlite");
    for chunk in records.chunks(INSERT_ROWS) {
        let mut sql = String::from(
            "INSERT INTO audit_events (sequence, event_id, occurred_at, event_type, category, actor_user_id, \
             actor_subject, actor_username, actor_ip, actor_user_agent, resource_type, resource_id, resource_name, \
             action, status, metadata, request_id, session_id, decision_id, prev_hash, hash) VALUES ",
        );
        for row in 0..chunk.len() {
            sql.push_str(if row == 0 { "(" } else { ", (" });
            for column in 0..INSERT_COLUMNS {
                if column > 0 {
                    sql.push_str(", ");
                }
                if anonymous {
                    sql.push('?');
                } else {
                    sql.push('$');
                    sql.push_str(&(row * INSERT_COLUMNS + column + 1).to_string());
                }
            }
            sql.push(')');
        }
        // Only placeholders are generated; every value is bound.
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for r in chunk {
            let resource = r.resource.as_ref();
            query = query
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
                .bind(r.hash.as_str());
        }
        query.execute(&mut *conn).await?;
    }
    Ok(())
}

/// Records with `from <= sequence <= to`, in chain order, at most `limit`.
pub async fn range(conn: &mut AnyConnection, from: i64, to: i64, limit: i64) -> Result<Vec<AuditRecord>> {
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
    let row = sqlx::query("SELECT MIN(sequence), MAX(sequence) FROM audit_events").fetch_one(conn).await?;
    let min: Option<i64> = row.try_get(0)?;
    let max: Option<i64> = row.try_get(1)?;
    Ok(min.zip(max))
}

/// The committed chain head.
pub async fn head(conn: &mut AnyConnection) -> Result<ChainHead> {
    let row = sqlx::query("SELECT sequence, hash FROM audit_head WHERE id = 1").fetch_one(conn).await?;
    Ok(ChainHead { sequence: row.try_get(0)?, hash: row.try_get(1)? })
}

/// Number of records.
pub async fn count(conn: &mut AnyConnection) -> Result<i64> {
    Ok(sqlx::query("SELECT COUNT(*) FROM audit_events").fetch_one(conn).await?.try_get(0)?)
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
        category: Category::parse(&category).ok_or_else(|| StoreError::corrupt(TABLE, "unknown category"))?,
        actor: Actor {
            user_id: row.try_get("actor_user_id")?,
            subject: row.try_get("actor_subject")?,
            username: row.try_get("actor_username")?,
            ip_address: row.try_get("actor_ip")?,
            user_agent: row.try_get("actor_user_agent")?,
        },
        resource: match resource_type {
            Some(kind) => Some(Resource { kind, id: row.try_get("resource_id")?, name: row.try_get("resource_name")? }),
            None => None,
        },
        action: row.try_get("action")?,
        status: Outcome::parse(&status).ok_or_else(|| StoreError::corrupt(TABLE, "unknown status"))?,
        metadata: row.try_get("metadata")?,
        request_id: row.try_get("request_id")?,
        session_id: row.try_get("session_id")?,
        decision_id: row.try_get("decision_id")?,
        prev_hash: row.try_get("prev_hash")?,
        hash: row.try_get("hash")?,
    })
}

/// Filters for listing audit events; every one optional.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// At or after (RFC 3339 UTC, as stored).
    pub from: Option<time::OffsetDateTime>,
    /// Before.
    pub to: Option<time::OffsetDateTime>,
    /// Actor's user id.
    pub actor_user_id: Option<String>,
    /// Exact event type.
    pub event_type: Option<String>,
    /// Resource type.
    pub resource_type: Option<String>,
    /// Resource id.
    pub resource_id: Option<String>,
    /// Outcome.
    pub status: Option<Outcome>,
    /// Category.
    pub category: Option<Category>,
}

/// Newest first, starting below `before_sequence` when given.
///
/// The page's sequences are chosen first, in a subquery that the indexes
/// answer alone where the filter allows (a time window reads only the time
/// index, and sorts sequence numbers rather than whole events); only the
/// page's rows are then read. docs/benchmarks.md (finding 17) has the plans.
pub async fn list(
    conn: &mut AnyConnection,
    filter: &AuditFilter,
    before_sequence: Option<i64>,
    limit: i64,
) -> Result<Vec<AuditRecord>> {
    use crate::page::{Arg, Statement};
    let mut stmt = Statement::new(COLUMNS);
    stmt.push(" WHERE sequence IN (SELECT sequence FROM audit_events WHERE 1 = 1")
        .filter_eq("actor_user_id", filter.actor_user_id.clone())
        .filter_eq("event_type", filter.event_type.clone())
        .filter_eq("resource_type", filter.resource_type.clone())
        .filter_eq("resource_id", filter.resource_id.clone())
        .filter_eq("status", filter.status.map(|s| s.as_str().to_owned()))
        .filter_eq("category", filter.category.map(|c| c.as_str().to_owned()));
    if let Some(from) = filter.from {
        stmt.push(" AND occurred_at >= ").bind(Arg::Text(ts(from)));
    }
    if let Some(to) = filter.to {
        stmt.push(" AND occurred_at < ").bind(Arg::Text(ts(to)));
    }
    if let Some(before) = before_sequence {
        stmt.push(" AND sequence < ").bind(Arg::Int(before));
    }
    // Events newer than `to` do not match: walking the trail backwards from
    // its end to reach the window would read them all, so without a
    // narrower index to walk, the window is read from the time index and
    // its sequence numbers sorted (`+ 0` keeps both engines off the
    // sequence order).
    let narrowed = filter.actor_user_id.is_some()
        || filter.event_type.is_some()
        || filter.resource_id.is_some()
        || filter.category.is_some();
    let order =
        if filter.to.is_some() && !narrowed { " ORDER BY sequence + 0 DESC" } else { " ORDER BY sequence DESC" };
    stmt.push(order).push(" LIMIT ").bind(Arg::Int(limit)).push(") ORDER BY sequence DESC");
    let rows = stmt.query().fetch_all(conn).await?;
    rows.iter().map(from_row).collect()
}

/// A signed statement that the chain reached `sequence` with `hash`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Checkpoint {
    /// Sequence vouched for.
    pub sequence: i64,
    /// Its hash.
    pub hash: String,
    /// When signed.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: time::OffsetDateTime,
    /// Signing key id.
    pub key_id: String,
    /// base64url Ed25519 signature.
    pub signature: String,
}

/// Stores a checkpoint (a second one at the same sequence is ignored).
pub async fn insert_checkpoint(conn: &mut AnyConnection, c: &Checkpoint) -> Result<()> {
    sqlx::query(
        "INSERT INTO audit_checkpoints (sequence, hash, created_at, key_id, signature) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (sequence) DO NOTHING",
    )
    .bind(c.sequence)
    .bind(c.hash.as_str())
    .bind(ts(c.created_at))
    .bind(c.key_id.as_str())
    .bind(c.signature.as_str())
    .execute(conn)
    .await?;
    Ok(())
}

/// Every checkpoint, oldest first.
pub async fn checkpoints(conn: &mut AnyConnection) -> Result<Vec<Checkpoint>> {
    let rows =
        sqlx::query("SELECT sequence, hash, created_at, key_id, signature FROM audit_checkpoints ORDER BY sequence")
            .fetch_all(conn)
            .await?;
    rows.iter()
        .map(|r| {
            Ok(Checkpoint {
                sequence: r.try_get(0)?,
                hash: r.try_get(1)?,
                created_at: parse_ts("audit_checkpoints", &r.try_get::<String, _>(2)?)?,
                key_id: r.try_get(3)?,
                signature: r.try_get(4)?,
            })
        })
        .collect()
}

/// A person's wrapped data key: `(kek_id, wrapped)`, or `Ok(None)` when
/// there is none yet; `Err(Erased)` style is expressed by `wrapped = None`.
pub async fn subject_key(conn: &mut AnyConnection, subject: &str) -> Result<Option<(String, Option<String>)>> {
    let row = sqlx::query("SELECT kek_id, wrapped_key FROM subject_keys WHERE subject = $1")
        .bind(subject)
        .fetch_optional(conn)
        .await?;
    row.map(|r| Ok((r.try_get(0)?, r.try_get(1)?))).transpose()
}

/// Stores a wrapped key unless the subject already has one (first writer wins).
pub async fn insert_subject_key(
    conn: &mut AnyConnection,
    subject: &str,
    kek_id: &str,
    wrapped: &str,
    now: time::OffsetDateTime,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO subject_keys (subject, kek_id, wrapped_key, created_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (subject) DO NOTHING",
    )
    .bind(subject)
    .bind(kek_id)
    .bind(wrapped)
    .bind(ts(now))
    .execute(conn)
    .await?;
    Ok(())
}

/// Destroys a subject's key: everything sealed under it becomes unreadable.
pub async fn destroy_subject_key(conn: &mut AnyConnection, subject: &str, now: time::OffsetDateTime) -> Result<bool> {
    let result = sqlx::query(
        "UPDATE subject_keys SET wrapped_key = NULL, destroyed_at = $1 WHERE subject = $2 AND wrapped_key IS NOT NULL",
    )
    .bind(ts(now))
    .bind(subject)
    .execute(conn)
    .await?;
    Ok(result.rows_affected() > 0)
}

/// Events whose category's retention has passed: `cutoffs` gives, per
/// category, the time before which an event is expired; none after
/// sequence `up_to` when given. Oldest first.
pub async fn expired(
    conn: &mut AnyConnection,
    cutoffs: &[(Category, time::OffsetDateTime)],
    up_to: Option<i64>,
    limit: i64,
) -> Result<Vec<AuditRecord>> {
    use crate::page::{Arg, Statement};
    if cutoffs.is_empty() {
        return Ok(Vec::new());
    }
    let mut stmt = Statement::new(COLUMNS);
    stmt.push(" WHERE (");
    for (i, (category, cutoff)) in cutoffs.iter().enumerate() {
        if i > 0 {
            stmt.push(" OR ");
        }
        stmt.push("(category = ")
            .bind(Arg::Text(category.as_str().to_owned()))
            .push(" AND occurred_at < ")
            .bind(Arg::Text(ts(*cutoff)))
            .push(")");
    }
    stmt.push(")");
    if let Some(last) = up_to {
        stmt.push(" AND sequence <= ").bind(Arg::Int(last));
    }
    stmt.push(" ORDER BY sequence LIMIT ").bind(Arg::Int(limit));
    let rows = stmt.query().fetch_all(conn).await?;
    rows.iter().map(from_row).collect()
}

/// An archived segment, as recorded in the database.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ArchiveSegment {
    /// Id.
    pub segment_id: String,
    /// Object key of the compressed JSON Lines.
    pub object_key: String,
    /// Object key of the manifest.
    pub manifest_key: String,
    /// Records in it.
    pub event_count: i64,
    /// Lowest sequence.
    pub first_sequence: i64,
    /// Highest sequence.
    pub last_sequence: i64,
    /// SHA-256 (hex) of the compressed object.
    pub sha256: String,
    /// When archived.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: time::OffsetDateTime,
}

/// Records the segment, leaves a tombstone for each archived record, and
/// deletes those records — all in `conn`'s transaction. Fails (and the
/// caller rolls back) unless exactly the given records were deleted.
pub async fn archive(conn: &mut AnyConnection, segment: &ArchiveSegment, records: &[(i64, String)]) -> Result<()> {
    use crate::page::Statement;
    sqlx::query(
        "INSERT INTO audit_archives (segment_id, object_key, manifest_key, event_count, first_sequence, last_sequence, \
         sha256, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(segment.segment_id.as_str())
    .bind(segment.object_key.as_str())
    .bind(segment.manifest_key.as_str())
    .bind(segment.event_count)
    .bind(segment.first_sequence)
    .bind(segment.last_sequence)
    .bind(segment.sha256.as_str())
    .bind(ts(segment.created_at))
    .execute(&mut *conn)
    .await?;
    let mut deleted = 0;
    for chunk in records.chunks(500) {
        for (sequence, hash) in chunk {
            sqlx::query("INSERT INTO audit_tombstones (sequence, hash, segment_id) VALUES ($1, $2, $3)")
                .bind(*sequence)
                .bind(hash.as_str())
                .bind(segment.segment_id.as_str())
                .execute(&mut *conn)
                .await?;
        }
        let mut stmt = Statement::new("DELETE FROM audit_events WHERE sequence IN ");
        stmt.bind_int_list(chunk.iter().map(|(s, _)| *s));
        deleted += stmt.query().execute(&mut *conn).await?.rows_affected();
    }
    if deleted != records.len() as u64 {
        return Err(StoreError::Rule(format!(
            "archival expected to remove {} records but removed {deleted}; nothing was deleted",
            records.len()
        )));
    }
    Ok(())
}

/// Tombstones with `from <= sequence <= to`: `(sequence, hash)`, in order.
pub async fn tombstones(conn: &mut AnyConnection, from: i64, to: i64, limit: i64) -> Result<Vec<(i64, String)>> {
    let rows = sqlx::query(
        "SELECT sequence, hash FROM audit_tombstones WHERE sequence >= $1 AND sequence <= $2 ORDER BY sequence LIMIT $3",
    )
    .bind(from)
    .bind(to)
    .bind(limit)
    .fetch_all(conn)
    .await?;
    rows.iter().map(|r| Ok((r.try_get(0)?, r.try_get(1)?))).collect()
}

/// Lowest and highest tombstone sequence.
pub async fn tombstone_bounds(conn: &mut AnyConnection) -> Result<Option<(i64, i64)>> {
    let row = sqlx::query("SELECT MIN(sequence), MAX(sequence) FROM audit_tombstones").fetch_one(conn).await?;
    let min: Option<i64> = row.try_get(0)?;
    let max: Option<i64> = row.try_get(1)?;
    Ok(min.zip(max))
}

/// Every archived segment, oldest first.
pub async fn segments(conn: &mut AnyConnection) -> Result<Vec<ArchiveSegment>> {
    let rows = sqlx::query(
        "SELECT segment_id, object_key, manifest_key, event_count, first_sequence, last_sequence, sha256, created_at \
         FROM audit_archives ORDER BY created_at, segment_id",
    )
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(ArchiveSegment {
                segment_id: r.try_get(0)?,
                object_key: r.try_get(1)?,
                manifest_key: r.try_get(2)?,
                event_count: r.try_get(3)?,
                first_sequence: r.try_get(4)?,
                last_sequence: r.try_get(5)?,
                sha256: r.try_get(6)?,
                created_at: parse_ts("audit_archives", &r.try_get::<String, _>(7)?)?,
            })
        })
        .collect()
}
