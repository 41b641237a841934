//! Project members.

use crate::codec::{field, parse_ts, ts};
use crate::error::{Result, StoreError};
use crate::page::{Arg, ListParams, Page, SortKey, Statement, finish};
use autopmo_domain::{Member, MemberKind, ProjectId, UserId};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

const TABLE: &str = "project_members";
const COLUMNS: &str = "SELECT project_id, user_id, kind, created_at, updated_at, version FROM project_members";

/// Members are listed in the order they joined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MemberSort {
    /// By time added.
    #[default]
    CreatedAt,
}

impl SortKey for MemberSort {
    fn column(self) -> &'static str {
        "created_at"
    }

    fn name(self) -> &'static str {
        "created_at"
    }
}

/// Adds a member.
pub async fn insert(conn: &mut AnyConnection, m: &Member) -> Result<()> {
    sqlx::query(
        "INSERT INTO project_members (project_id, user_id, kind, created_at, updated_at, version) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(m.project_id.to_string())
    .bind(m.user_id.to_string())
    .bind(m.kind.as_str())
    .bind(ts(m.created_at))
    .bind(ts(m.updated_at))
    .bind(m.version)
    .execute(conn)
    .await?;
    Ok(())
}

/// Reads one membership.
pub async fn get(conn: &mut AnyConnection, project: ProjectId, user: UserId) -> Result<Member> {
    let mut stmt = Statement::new(COLUMNS);
    stmt.push(" WHERE project_id = ")
        .bind(Arg::Text(project.to_string()))
        .push(" AND user_id = ")
        .bind(Arg::Text(user.to_string()));
    let row = stmt.query().fetch_optional(conn).await?.ok_or(StoreError::NotFound)?;
    from_row(&row)
}

/// Changes a member's kind if still at `expected_version`.
pub async fn update(conn: &mut AnyConnection, m: &Member, expected_version: i64) -> Result<Member> {
    let result = sqlx::query(
        "UPDATE project_members SET kind = $1, updated_at = $2, version = version + 1 \
         WHERE project_id = $3 AND user_id = $4 AND version = $5",
    )
    .bind(m.kind.as_str())
    .bind(ts(m.updated_at))
    .bind(m.project_id.to_string())
    .bind(m.user_id.to_string())
    .bind(expected_version)
    .execute(&mut *conn)
    .await?;
    if result.rows_affected() == 0 {
        let current = get(conn, m.project_id, m.user_id).await?;
        return Err(StoreError::VersionMismatch { current: current.version });
    }
    get(conn, m.project_id, m.user_id).await
}

/// Removes a member, unassigning the project's tasks it held.
pub async fn delete(
    conn: &mut AnyConnection,
    project: ProjectId,
    user: UserId,
    expected_version: Option<i64>,
) -> Result<()> {
    let current = get(conn, project, user).await?;
    if let Some(v) = expected_version
        && v != current.version
    {
        return Err(StoreError::VersionMismatch { current: current.version });
    }
    sqlx::query(
        "UPDATE tasks SET assignee_id = NULL, version = version + 1 WHERE project_id = $1 AND assignee_id = $2",
    )
    .bind(project.to_string())
    .bind(user.to_string())
    .execute(&mut *conn)
    .await?;
    sqlx::query("DELETE FROM project_members WHERE project_id = $1 AND user_id = $2")
        .bind(project.to_string())
        .bind(user.to_string())
        .execute(conn)
        .await?;
    Ok(())
}

/// Lists a project's members.
pub async fn list(
    conn: &mut AnyConnection,
    project: ProjectId,
    params: &ListParams<MemberSort>,
) -> Result<Page<Member>> {
    let mut stmt = Statement::new(COLUMNS);
    stmt.push(" WHERE project_id = ").bind(Arg::Text(project.to_string()));
    // Keyset on (created_at, user_id): the `id` in the ordering is the user id.
    stmt.paginate_with_id_column(params, "user_id")?;
    let rows = stmt.query().fetch_all(conn).await?;
    let items = rows.iter().map(from_row).collect::<Result<Vec<_>>>()?;
    Ok(finish(items, params, |m| (ts(m.created_at), m.user_id.to_string())))
}

/// The ids of a project's members (bind the project's id).
const USER_IDS: &str = "SELECT user_id FROM project_members WHERE project_id = $1";

/// The user ids of a project's members (for authorization decisions).
pub async fn user_ids(conn: &mut AnyConnection, project: ProjectId) -> Result<Vec<String>> {
    let rows = sqlx::query(USER_IDS).bind(project.to_string()).fetch_all(conn).await?;
    rows.iter().map(|row| Ok(row.try_get::<String, _>(0)?)).collect()
}

fn from_row(row: &AnyRow) -> Result<Member> {
    Ok(Member {
        project_id: field(TABLE, row.try_get::<String, _>("project_id")?.parse::<ProjectId>())?,
        user_id: field(TABLE, row.try_get::<String, _>("user_id")?.parse::<UserId>())?,
        kind: field(TABLE, MemberKind::parse(&row.try_get::<String, _>("kind")?))?,
        created_at: parse_ts(TABLE, &row.try_get::<String, _>("created_at")?)?,
        updated_at: parse_ts(TABLE, &row.try_get::<String, _>("updated_at")?)?,
        version: row.try_get("version")?,
    })
}
