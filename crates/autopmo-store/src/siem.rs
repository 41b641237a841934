//! SIEM export cursors: for each sink, the last audit sequence it has
//! acknowledged. Events after it are (re)sent; the cursor only moves forward.

use crate::codec::{parse_ts, ts};
use crate::error::Result;
use sqlx::{AnyConnection, Row};
use time::OffsetDateTime;

const TABLE: &str = "siem_cursors";

/// Where one sink stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiemCursor {
    /// The sink's configured name.
    pub sink: String,
    /// Every event up to this sequence was delivered.
    pub last_sequence: i64,
    /// When the cursor last moved.
    pub updated_at: OffsetDateTime,
}

/// The last sequence `sink` acknowledged; 0 when it never delivered anything.
pub async fn cursor(conn: &mut AnyConnection, sink: &str) -> Result<i64> {
    let row =
        sqlx::query("SELECT last_sequence FROM siem_cursors WHERE sink = $1").bind(sink).fetch_optional(conn).await?;
    Ok(row.map(|r| r.try_get::<i64, _>(0)).transpose()?.unwrap_or(0))
}

/// Moves `sink`'s cursor to `last_sequence` (creating it on first use). A
/// cursor never moves back: an older value, e.g. from a second process that
/// delivered the same batch, is ignored. Run it in the unit of work that
/// records the delivery.
pub async fn advance(conn: &mut AnyConnection, sink: &str, last_sequence: i64, now: OffsetDateTime) -> Result<()> {
    sqlx::query(
        "INSERT INTO siem_cursors (sink, last_sequence, updated_at) VALUES ($1, $2, $3) \
         ON CONFLICT (sink) DO UPDATE SET last_sequence = excluded.last_sequence, updated_at = excluded.updated_at \
         WHERE siem_cursors.last_sequence < excluded.last_sequence",
    )
    .bind(sink)
    .bind(last_sequence)
    .bind(ts(now))
    .execute(conn)
    .await?;
    Ok(())
}

/// Every sink's cursor, by name.
pub async fn cursors(conn: &mut AnyConnection) -> Result<Vec<SiemCursor>> {
    let rows =
        sqlx::query("SELECT sink, last_sequence, updated_at FROM siem_cursors ORDER BY sink").fetch_all(conn).await?;
    rows.iter()
        .map(|r| {
            Ok(SiemCursor {
                sink: r.try_get(0)?,
                last_sequence: r.try_get(1)?,
                updated_at: parse_ts(TABLE, &r.try_get::<String, _>(2)?)?,
            })
        })
        .collect()
}
