//! Cost entries, in the project's budget currency.

use crate::codec::{date, field, parse_date, parse_ts, ts};
use crate::error::{Result, StoreError};
use crate::page::{Arg, ListParams, Page, SortKey, Statement, finish};
use autopmo_domain::{Amount, CostCategory, CostEntry, CostEntryId, Currency, Note, ProjectId};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

const TABLE: &str = "cost_entries";
const COLUMNS: &str = "SELECT c.id, c.project_id, c.entry_date, c.amount_minor, c.category, c.note, c.created_at, \
                       c.updated_at, c.version, p.currency FROM cost_entries c JOIN projects p ON p.id = c.project_id";

/// Columns a cost list can be sorted by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CostSort {
    /// By creation time (the default).
    #[default]
    CreatedAt,
    /// By the day the cost was incurred.
    EntryDate,
}

impl SortKey for CostSort {
    fn column(self) -> &'static str {
        match self {
            Self::CreatedAt => "c.created_at",
            Self::EntryDate => "c.entry_date",
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::CreatedAt => "created_at",
            Self::EntryDate => "entry_date",
        }
    }
}

/// Which cost entries to list.
#[derive(Debug, Clone, Default)]
pub struct CostFilter {
    /// Only this category.
    pub category: Option<CostCategory>,
}

/// Stores a new cost entry.
pub async fn insert(conn: &mut AnyConnection, c: &CostEntry) -> Result<()> {
    sqlx::query(
        "INSERT INTO cost_entries (id, project_id, entry_date, amount_minor, category, note, created_at, updated_at, version) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(c.id.to_string())
    .bind(c.project_id.to_string())
    .bind(date(c.entry_date))
    .bind(c.amount.minor())
    .bind(c.category.as_str())
    .bind(c.note.as_str())
    .bind(ts(c.created_at))
    .bind(ts(c.updated_at))
    .bind(c.version)
    .execute(conn)
    .await?;
    Ok(())
}

/// Reads one cost entry of a project.
pub async fn get(conn: &mut AnyConnection, project: ProjectId, id: CostEntryId) -> Result<CostEntry> {
    let mut stmt = Statement::new(COLUMNS);
    stmt.push(" WHERE c.project_id = ")
        .bind(Arg::Text(project.to_string()))
        .push(" AND c.id = ")
        .bind(Arg::Text(id.to_string()));
    let row = stmt.query().fetch_optional(conn).await?.ok_or(StoreError::NotFound)?;
    from_row(&row)
}

/// Writes `c` over the stored entry if still at `expected_version`.
pub async fn update(conn: &mut AnyConnection, c: &CostEntry, expected_version: i64) -> Result<CostEntry> {
    let result = sqlx::query(
        "UPDATE cost_entries SET entry_date = $1, amount_minor = $2, category = $3, note = $4, updated_at = $5, \
         version = version + 1 WHERE project_id = $6 AND id = $7 AND version = $8",
    )
    .bind(date(c.entry_date))
    .bind(c.amount.minor())
    .bind(c.category.as_str())
    .bind(c.note.as_str())
    .bind(ts(c.updated_at))
    .bind(c.project_id.to_string())
    .bind(c.id.to_string())
    .bind(expected_version)
    .execute(&mut *conn)
    .await?;
    if result.rows_affected() == 0 {
        let current = get(conn, c.project_id, c.id).await?;
        return Err(StoreError::VersionMismatch { current: current.version });
    }
    get(conn, c.project_id, c.id).await
}

/// Deletes a cost entry.
pub async fn delete(
    conn: &mut AnyConnection,
    project: ProjectId,
    id: CostEntryId,
    expected_version: Option<i64>,
) -> Result<()> {
    let current = get(conn, project, id).await?;
    if let Some(v) = expected_version
        && v != current.version
    {
        return Err(StoreError::VersionMismatch { current: current.version });
    }
    sqlx::query("DELETE FROM cost_entries WHERE project_id = $1 AND id = $2")
        .bind(project.to_string())
        .bind(id.to_string())
        .execute(conn)
        .await?;
    Ok(())
}

/// Lists a project's cost entries.
pub async fn list(
    conn: &mut AnyConnection,
    project: ProjectId,
    filter: &CostFilter,
    params: &ListParams<CostSort>,
) -> Result<Page<CostEntry>> {
    let mut stmt = Statement::new(COLUMNS);
    stmt.push(" WHERE c.project_id = ")
        .bind(Arg::Text(project.to_string()))
        .filter_eq("c.category", filter.category.map(|c| c.as_str().to_owned()));
    stmt.paginate_with_id_column(params, "c.id")?;
    let rows = stmt.query().fetch_all(conn).await?;
    let items = rows.iter().map(from_row).collect::<Result<Vec<_>>>()?;
    Ok(finish(items, params, |c| {
        let key = match params.sort {
            CostSort::CreatedAt => ts(c.created_at),
            CostSort::EntryDate => date(c.entry_date),
        };
        (key, c.id.to_string())
    }))
}

fn from_row(row: &AnyRow) -> Result<CostEntry> {
    let currency = field(TABLE, Currency::parse(&row.try_get::<String, _>("currency")?))?;
    Ok(CostEntry {
        id: field(TABLE, row.try_get::<String, _>("id")?.parse::<CostEntryId>())?,
        project_id: field(TABLE, row.try_get::<String, _>("project_id")?.parse::<ProjectId>())?,
        entry_date: parse_date(TABLE, &row.try_get::<String, _>("entry_date")?)?,
        amount: Amount::from_minor(row.try_get("amount_minor")?, currency)
            .ok_or_else(|| StoreError::corrupt(TABLE, "amount out of range"))?,
        category: field(TABLE, CostCategory::parse(&row.try_get::<String, _>("category")?))?,
        note: field(TABLE, Note::parse(&row.try_get::<String, _>("note")?))?,
        created_at: parse_ts(TABLE, &row.try_get::<String, _>("created_at")?)?,
        updated_at: parse_ts(TABLE, &row.try_get::<String, _>("updated_at")?)?,
        version: row.try_get("version")?,
    })
}

/// The sum of a project's cost entries, in minor units.
pub async fn total_minor(conn: &mut AnyConnection, project: ProjectId) -> Result<i64> {
    let row =
        sqlx::query("SELECT CAST(COALESCE(SUM(amount_minor), 0) AS BIGINT) FROM cost_entries WHERE project_id = $1")
            .bind(project.to_string())
            .fetch_one(conn)
            .await?;
    Ok(row.try_get(0)?)
}
