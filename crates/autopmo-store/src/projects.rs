//! Projects.

use crate::codec::{date, field, parse_opt_date, parse_ts, ts};
use crate::error::{Result, StoreError};
use crate::page::{Arg, ListParams, Page, SortKey, Statement, finish};
use crate::row::Columns;
use crate::visibility::Visibility;
use autopmo_domain::{
    Amount, Currency, Description, Money, PlannedDates, Project, ProjectId, ProjectName, ProjectStatus, UserId,
};
use sqlx::{AnyConnection, Row};

const TABLE: &str = "projects";
pub(crate) const COLUMNS: &str = "SELECT id, name, description, budget_minor, currency, owner_id, status, planned_start, \
                       planned_end, created_at, updated_at, version FROM projects";

/// Columns a project list can be sorted by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ProjectSort {
    /// By creation time (the default).
    #[default]
    CreatedAt,
    /// By last change.
    UpdatedAt,
    /// By name.
    Name,
}

impl SortKey for ProjectSort {
    fn column(self) -> &'static str {
        match self {
            Self::CreatedAt => "created_at",
            Self::UpdatedAt => "updated_at",
            Self::Name => "name",
        }
    }

    fn name(self) -> &'static str {
        self.column()
    }
}

/// Which projects to list.
#[derive(Debug, Clone, Default)]
pub struct ProjectFilter {
    /// Only this status.
    pub status: Option<ProjectStatus>,
    /// Only projects owned by this user.
    pub owner_id: Option<UserId>,
}

/// Stores a new project.
pub async fn insert(conn: &mut AnyConnection, p: &Project) -> Result<()> {
    sqlx::query(
        "INSERT INTO projects (id, name, description, budget_minor, currency, owner_id, status, planned_start, \
         planned_end, created_at, updated_at, version) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
    )
    .bind(p.id.to_string())
    .bind(p.name.as_str())
    .bind(p.description.as_str())
    .bind(p.budget.amount.minor())
    .bind(p.budget.currency.code())
    .bind(p.owner_id.to_string())
    .bind(p.status.as_str())
    .bind(p.planned.start.map(date))
    .bind(p.planned.end.map(date))
    .bind(ts(p.created_at))
    .bind(ts(p.updated_at))
    .bind(p.version)
    .execute(conn)
    .await?;
    Ok(())
}

/// Reads one project.
pub async fn get(conn: &mut AnyConnection, id: ProjectId) -> Result<Project> {
    let mut stmt = Statement::new(COLUMNS);
    stmt.push(" WHERE id = ").bind(Arg::Text(id.to_string()));
    let row = stmt.query().fetch_optional(conn).await?;
    row.as_ref().map(from_row).transpose()?.ok_or(StoreError::NotFound)
}

/// Writes `p` over the stored project if the stored version is still
/// `expected_version`; returns it with its new version.
pub async fn update(conn: &mut AnyConnection, p: &Project, expected_version: i64) -> Result<Project> {
    let result = sqlx::query(
        "UPDATE projects SET name = $1, description = $2, budget_minor = $3, currency = $4, owner_id = $5, \
         status = $6, planned_start = $7, planned_end = $8, updated_at = $9, version = version + 1 \
         WHERE id = $10 AND version = $11",
    )
    .bind(p.name.as_str())
    .bind(p.description.as_str())
    .bind(p.budget.amount.minor())
    .bind(p.budget.currency.code())
    .bind(p.owner_id.to_string())
    .bind(p.status.as_str())
    .bind(p.planned.start.map(date))
    .bind(p.planned.end.map(date))
    .bind(ts(p.updated_at))
    .bind(p.id.to_string())
    .bind(expected_version)
    .execute(&mut *conn)
    .await?;
    if result.rows_affected() == 0 {
        return Err(version_conflict(conn, p.id).await);
    }
    get(conn, p.id).await
}

/// Deletes a project with its members, tasks and costs; with
/// `expected_version`, only if it is still at that version.
pub async fn delete(conn: &mut AnyConnection, id: ProjectId, expected_version: Option<i64>) -> Result<()> {
    let result = match expected_version {
        Some(v) => {
            sqlx::query("DELETE FROM projects WHERE id = $1 AND version = $2")
                .bind(id.to_string())
                .bind(v)
                .execute(&mut *conn)
                .await?
        }
        None => sqlx::query("DELETE FROM projects WHERE id = $1").bind(id.to_string()).execute(&mut *conn).await?,
    };
    if result.rows_affected() == 0 {
        return Err(version_conflict(conn, id).await);
    }
    Ok(())
}

/// Takes the project's row lock for the rest of the transaction (on SQLite
/// the write lock is already held), so that checks spanning several rows of
/// the project — the dependency graph — see no concurrent change.
pub async fn lock(conn: &mut AnyConnection, id: ProjectId) -> Result<()> {
    let result =
        sqlx::query("UPDATE projects SET version = version WHERE id = $1").bind(id.to_string()).execute(conn).await?;
    if result.rows_affected() == 0 { Err(StoreError::NotFound) } else { Ok(()) }
}

/// Lists projects.
pub async fn list(
    conn: &mut AnyConnection,
    filter: &ProjectFilter,
    visible: &Visibility,
    params: &ListParams<ProjectSort>,
) -> Result<Page<Project>> {
    let mut stmt = Statement::new(COLUMNS);
    stmt.push(" WHERE 1 = 1")
        .filter_eq("status", filter.status.map(|s| s.as_str().to_owned()))
        .filter_eq("owner_id", filter.owner_id.map(|o| o.to_string()));
    visible.restrict(&mut stmt);
    stmt.paginate(params)?;
    let rows = stmt.query().fetch_all(conn).await?;
    let items = rows.iter().map(from_row).collect::<Result<Vec<_>>>()?;
    Ok(finish(items, params, |p| {
        let key = match params.sort {
            ProjectSort::CreatedAt => ts(p.created_at),
            ProjectSort::UpdatedAt => ts(p.updated_at),
            ProjectSort::Name => p.name.as_str().to_owned(),
        };
        (key, p.id.to_string())
    }))
}

/// Counts projects matching `filter` that are `visible`.
pub async fn count(conn: &mut AnyConnection, filter: &ProjectFilter, visible: &Visibility) -> Result<i64> {
    let mut stmt = Statement::new("SELECT COUNT(*) FROM projects WHERE 1 = 1");
    stmt.filter_eq("status", filter.status.map(|s| s.as_str().to_owned()))
        .filter_eq("owner_id", filter.owner_id.map(|o| o.to_string()));
    visible.restrict(&mut stmt);
    let row = stmt.query().fetch_one(conn).await?;
    Ok(row.try_get(0)?)
}

/// After an update or delete touched no row: missing, or changed meanwhile?
pub(crate) async fn version_conflict(conn: &mut AnyConnection, id: ProjectId) -> StoreError {
    let current =
        sqlx::query("SELECT version FROM projects WHERE id = $1").bind(id.to_string()).fetch_optional(conn).await;
    match current {
        Ok(Some(row)) => match row.try_get::<i64, _>(0) {
            Ok(current) => StoreError::VersionMismatch { current },
            Err(e) => e.into(),
        },
        Ok(None) => StoreError::NotFound,
        Err(e) => e.into(),
    }
}

pub(crate) fn from_row(row: &impl Columns) -> Result<Project> {
    let currency = field(TABLE, Currency::parse(&row.text("currency")?))?;
    let amount = Amount::from_minor(row.int("budget_minor")?, currency)
        .ok_or_else(|| StoreError::corrupt(TABLE, "budget out of range"))?;
    let planned = field(
        TABLE,
        PlannedDates::new(
            parse_opt_date(TABLE, row.opt_text("planned_start")?)?,
            parse_opt_date(TABLE, row.opt_text("planned_end")?)?,
        ),
    )?;
    Ok(Project {
        id: field(TABLE, row.text("id")?.parse::<ProjectId>())?,
        name: field(TABLE, ProjectName::parse(&row.text("name")?))?,
        description: field(TABLE, Description::parse(&row.text("description")?))?,
        budget: Money { amount, currency },
        owner_id: field(TABLE, row.text("owner_id")?.parse::<UserId>())?,
        status: field(TABLE, ProjectStatus::parse(&row.text("status")?))?,
        planned,
        created_at: parse_ts(TABLE, &row.text("created_at")?)?,
        updated_at: parse_ts(TABLE, &row.text("updated_at")?)?,
        version: row.int("version")?,
    })
}
